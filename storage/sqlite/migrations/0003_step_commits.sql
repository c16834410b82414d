-- Tasker schema, version 3: idempotent step commits. A holder's step write
-- (RecordCalls, CompleteRun, FailRun) may carry a step token; its first
-- commit stores the answer here, and a retry of it (the answer was lost)
-- gets that answer back and changes nothing. Only a root's latest step
-- can be retried (its holder commits steps one after another), so one row
-- per root is kept: each commit replaces the one before.
CREATE TABLE step_commits (
  root_stack_run_id  TEXT    NOT NULL,
  op                 INTEGER NOT NULL,
  step_token         TEXT    NOT NULL,
  response           BLOB    NOT NULL,
  created_at         BIGINT  NOT NULL,
  PRIMARY KEY (root_stack_run_id)
);
