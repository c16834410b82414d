-- Tasker schema, version 6: numbers for runs and stack runs.
-- The earlier JavaScript platform's API named runs and stack runs by integer
-- ids (GET /task/status/1); each row gets one from a sequence that never
-- goes back. The string id stays the primary key. Existing rows are numbered
-- in creation order.
CREATE SEQUENCE task_run_numbers;
CREATE SEQUENCE stack_run_numbers;
ALTER TABLE task_runs ADD COLUMN number BIGINT;
ALTER TABLE stack_runs ADD COLUMN number BIGINT;
UPDATE task_runs SET number = n.rn FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn FROM task_runs) AS n WHERE task_runs.id = n.id;
UPDATE stack_runs SET number = n.rn FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn FROM stack_runs) AS n WHERE stack_runs.id = n.id;
SELECT setval('task_run_numbers', (SELECT COALESCE(MAX(number), 0) + 1 FROM task_runs), false);
SELECT setval('stack_run_numbers', (SELECT COALESCE(MAX(number), 0) + 1 FROM stack_runs), false);
ALTER SEQUENCE task_run_numbers OWNED BY task_runs.number;
ALTER SEQUENCE stack_run_numbers OWNED BY stack_runs.number;
ALTER TABLE task_runs ALTER COLUMN number SET DEFAULT nextval('task_run_numbers');
ALTER TABLE stack_runs ALTER COLUMN number SET DEFAULT nextval('stack_run_numbers');
ALTER TABLE task_runs ALTER COLUMN number SET NOT NULL;
ALTER TABLE stack_runs ALTER COLUMN number SET NOT NULL;
CREATE UNIQUE INDEX task_runs_number ON task_runs (number);
CREATE UNIQUE INDEX stack_runs_number ON stack_runs (number);
