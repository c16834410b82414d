-- Tasker schema, version 4: poison pills. stack_runs.claims counts the
-- claims of a stack run since its holder last made progress (a journal step
-- recorded, a call's retry recorded); ClaimWork fails a run or call whose
-- claims reach the store's max_claim_attempts instead of handing it out again.
ALTER TABLE stack_runs ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
