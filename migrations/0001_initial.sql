-- 0001_initial: the first Cohort schema.
--
-- Each protobuf message is stored whole, serialized, in a bytea column: that copy is the source
-- of truth, so a field added to a message later needs no migration. The columns beside it are
-- copies of the fields that queries, indexes and operators (psql, dashboards) need.
--
-- `cohort-server migrate` runs this file in one transaction and records it in
-- schema_migrations(version, name, applied_at), which the migrator itself creates.
-- Migrations are forward-only: never edit an applied file, add 0002_... instead.

-- Tasks of every population. One row per task; the population is a column, not a table,
-- because a population has no state of its own (it is the name devices check in with).
CREATE TABLE tasks (
  task_id               text        PRIMARY KEY,
  population            text        NOT NULL,
  -- cohort.v1.TaskState name, e.g. TASK_STATE_RUNNING.
  state                 text        NOT NULL,
  latest_model_version  bigint      NOT NULL,
  rounds_committed      bigint      NOT NULL,
  rounds_failed         bigint      NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  -- cohort.v1.Task, serialized.
  task                  bytea       NOT NULL
);
CREATE INDEX tasks_population_idx ON tasks (population);

-- Model versions: metadata here, parameters in model_blobs, so that listing versions or checking
-- a checksum never reads megabytes of parameters.
CREATE TABLE model_versions (
  task_id     text        NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
  version     bigint      NOT NULL CHECK (version >= 0),
  -- SHA-256 of the parameters, as in cohort.v1.Model.sha256.
  sha256      bytea       NOT NULL,
  size_bytes  bigint      NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- cohort.v1.Model with `parameters` cleared, serialized.
  model       bytea       NOT NULL,
  PRIMARY KEY (task_id, version)
);

CREATE TABLE model_blobs (
  task_id     text  NOT NULL,
  version     bigint NOT NULL,
  -- Little-endian float32 values (cohort.v1.Model.parameters).
  parameters  bytea NOT NULL,
  PRIMARY KEY (task_id, version),
  FOREIGN KEY (task_id, version) REFERENCES model_versions (task_id, version) ON DELETE CASCADE
);
-- Float parameters do not compress; EXTERNAL stores them out of line without trying to.
ALTER TABLE model_blobs ALTER COLUMN parameters SET STORAGE EXTERNAL;

-- Rounds with their state and metrics, in flight, committed or failed.
CREATE TABLE rounds (
  task_id             text        NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
  round_number        bigint      NOT NULL,
  round_id            text        NOT NULL,
  -- cohort.v1.RoundPhase name; ROUND_PHASE_COMMITTED and ROUND_PHASE_FAILED are final.
  phase               text        NOT NULL,
  failure_reason      text        NOT NULL,
  base_model_version  bigint      NOT NULL,
  new_model_version   bigint      NOT NULL,
  selected            integer     NOT NULL,
  contributors        integer     NOT NULL,
  dropouts            integer     NOT NULL,
  bytes_uploaded      bigint      NOT NULL,
  bytes_downloaded    bigint      NOT NULL,
  started_at          timestamptz,
  ended_at            timestamptz,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  -- cohort.v1.RoundSummary, serialized.
  summary             bytea       NOT NULL,
  PRIMARY KEY (task_id, round_number)
);
-- Crash recovery looks for the rounds that never ended; keep that lookup off the whole table.
CREATE INDEX rounds_unfinished_idx ON rounds (task_id, round_number)
  WHERE phase NOT IN ('ROUND_PHASE_COMMITTED', 'ROUND_PHASE_FAILED');

-- One device's part in one round. Append-only; keyed by the salted device pseudonym (the raw
-- device id is never stored).
CREATE TABLE participation (
  id                    bigserial   PRIMARY KEY,
  task_id               text        NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
  round_number          bigint      NOT NULL,
  device_pseudonym      text        NOT NULL,
  participant_index     integer     NOT NULL,
  -- cohort.v1.RoundPhase name of the last phase the device completed.
  last_completed_phase  text        NOT NULL,
  contributed           boolean     NOT NULL,
  selected_at           timestamptz NOT NULL
);
-- The sampler's cool-down asks "when was this device last selected for this task" at check-in.
CREATE INDEX participation_device_idx
  ON participation (task_id, device_pseudonym, selected_at DESC);
CREATE INDEX participation_round_idx ON participation (task_id, round_number);

-- Admin actions, newest first.
CREATE TABLE audit_log (
  id       bigserial   PRIMARY KEY,
  time     timestamptz NOT NULL,
  -- "admin" or a client-certificate subject.
  actor    text        NOT NULL,
  -- The admin RPC, e.g. CreateTask.
  action   text        NOT NULL,
  -- Not a foreign key: a refused CreateTask is audited for a task that never existed.
  task_id  text        NOT NULL,
  detail   text        NOT NULL
);
CREATE INDEX audit_log_time_idx ON audit_log (time DESC, id DESC);
