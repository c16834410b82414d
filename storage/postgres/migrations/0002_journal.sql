-- Tasker schema, version 2: the journal of warm runs. A root's journal is its
-- steps (what started each one and the nondeterministic values the task saw
-- in it) and its calls (stack_runs.call_index 1, 2, ...); a checkpoint (the
-- continuation row) covers the steps before continuations.step.
ALTER TABLE stack_runs ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stack_runs ADD COLUMN reply_to TEXT NOT NULL DEFAULT '';
ALTER TABLE continuations ADD COLUMN step INTEGER NOT NULL DEFAULT 0;

-- random_seed is the proto's uint64, stored bit-cast as a signed 64-bit integer.
CREATE TABLE journal_steps (
  root_stack_run_id  TEXT    NOT NULL REFERENCES stack_runs (id),
  seq                INTEGER NOT NULL,
  trigger_call_id    TEXT    NOT NULL DEFAULT '',
  clock_ms           BIGINT  NOT NULL,
  random_seed        BIGINT  NOT NULL DEFAULT 0,
  PRIMARY KEY (root_stack_run_id, seq)
);

-- A run's calls by number (the largest call_index; the journal's calls in order).
CREATE INDEX stack_runs_parent_call ON stack_runs (parent_id, call_index);
