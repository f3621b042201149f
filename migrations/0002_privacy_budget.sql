-- 0002_privacy_budget: what differentially private tasks spend (docs/privacy.md).
--
-- The accountant's state lives in the serialized task (cohort.v1.Task.privacy), which
-- CommitRound writes in the same transaction as the model and the round. These columns copy
-- what operators and dashboards query, and let the database itself refuse the two things that
-- must never happen: a task that has spent more than its budget, and a task update that forgets
-- privacy already spent (a stale task written over a newer one).

ALTER TABLE tasks
  ADD COLUMN epsilon_spent   double precision NOT NULL DEFAULT 0,
  -- NULL: the task has no DP.
  ADD COLUMN epsilon_budget  double precision,
  -- Rounds whose noisy sum the server has seen, i.e. charged to the budget.
  ADD COLUMN privacy_rounds  bigint           NOT NULL DEFAULT 0,
  ADD CONSTRAINT tasks_epsilon_within_budget
    CHECK (epsilon_budget IS NULL OR epsilon_spent <= epsilon_budget);

CREATE FUNCTION cohort_privacy_never_forgets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.privacy_rounds < OLD.privacy_rounds OR NEW.epsilon_spent < OLD.epsilon_spent THEN
    RAISE EXCEPTION 'task % would forget privacy spent: % rounds and epsilon % stored, % and % written',
      OLD.task_id, OLD.privacy_rounds, OLD.epsilon_spent, NEW.privacy_rounds, NEW.epsilon_spent
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER tasks_privacy_never_forgets BEFORE UPDATE ON tasks
  FOR EACH ROW EXECUTE FUNCTION cohort_privacy_never_forgets();

-- The task's spent epsilon after the round, for charged DP rounds; NULL otherwise.
ALTER TABLE rounds ADD COLUMN epsilon_spent double precision;

-- One row per charged round, written with the round (in CommitRound's transaction for a
-- commit): an append-only record of how the budget was spent.
CREATE TABLE privacy_ledger (
  task_id        text             NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
  round_number   bigint           NOT NULL,
  -- cohort.v1.DpMechanism name.
  mechanism      text             NOT NULL,
  -- epsilon of this round alone, and of the task after it, at the task's delta.
  round_epsilon  double precision NOT NULL,
  epsilon_spent  double precision NOT NULL,
  -- cohort.v1.RoundPhase name: ROUND_PHASE_COMMITTED, or ROUND_PHASE_FAILED for a round that
  -- failed after the server had seen its sum.
  phase          text             NOT NULL,
  recorded_at    timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, round_number)
);
