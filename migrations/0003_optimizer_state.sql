-- 0003_optimizer_state: the server optimizer's state, stored with the model version it made.
--
-- FedAvgM keeps a velocity and the adaptive optimizers (FedAdagrad, FedAdam, FedYogi) a first
-- and a second moment, one value per parameter. CommitRound writes the state after a round's
-- step in the same transaction as the model version, so a server that restarts, or another that
-- takes over, resumes from the state the last commit produced.
CREATE TABLE optimizer_states (
  task_id  text   NOT NULL,
  version  bigint NOT NULL,
  -- cohort.v1.ServerOptimizerConfig.Kind name, e.g. KIND_FEDADAM.
  kind     text   NOT NULL,
  -- Optimizer steps behind this state (its version).
  steps    bigint NOT NULL,
  -- cohort.v1.ServerOptimizerState, serialized.
  state    bytea  NOT NULL,
  PRIMARY KEY (task_id, version),
  FOREIGN KEY (task_id, version) REFERENCES model_versions (task_id, version) ON DELETE CASCADE
);
-- Like the parameters, the moments are doubles that do not compress.
ALTER TABLE optimizer_states ALTER COLUMN state SET STORAGE EXTERNAL;
