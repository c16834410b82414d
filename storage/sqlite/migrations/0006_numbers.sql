-- Tasker schema, version 6: numbers for runs and stack runs.
-- The earlier JavaScript platform's API named runs and stack runs by integer
-- ids (GET /task/status/1); each row gets one from a counter that never goes
-- back (rows removed by retention leave their numbers unused). The string id
-- stays the primary key.
CREATE TABLE sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO sequences (name, value) VALUES ('task_runs', 0), ('stack_runs', 0);
ALTER TABLE task_runs ADD COLUMN number BIGINT;
ALTER TABLE stack_runs ADD COLUMN number BIGINT;
UPDATE task_runs SET number = n.rn FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn FROM task_runs) AS n WHERE task_runs.id = n.id;
UPDATE stack_runs SET number = n.rn FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn FROM stack_runs) AS n WHERE stack_runs.id = n.id;
UPDATE sequences SET value = (SELECT COALESCE(MAX(number), 0) FROM task_runs) WHERE name = 'task_runs';
UPDATE sequences SET value = (SELECT COALESCE(MAX(number), 0) FROM stack_runs) WHERE name = 'stack_runs';
CREATE UNIQUE INDEX task_runs_number ON task_runs (number);
CREATE UNIQUE INDEX stack_runs_number ON stack_runs (number);
CREATE TRIGGER task_runs_number AFTER INSERT ON task_runs BEGIN UPDATE sequences SET value = value + 1 WHERE name = 'task_runs'; UPDATE task_runs SET number = (SELECT value FROM sequences WHERE name = 'task_runs') WHERE rowid = NEW.rowid; END;
CREATE TRIGGER stack_runs_number AFTER INSERT ON stack_runs BEGIN UPDATE sequences SET value = value + 1 WHERE name = 'stack_runs'; UPDATE stack_runs SET number = (SELECT value FROM sequences WHERE name = 'stack_runs') WHERE rowid = NEW.rowid; END;
