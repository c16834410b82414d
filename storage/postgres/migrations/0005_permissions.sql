-- Tasker schema, version 5: what a function version may reach.
-- task_functions.permissions holds the grants fixed at publish, one per line
-- (README, "Security"). Versions published before hold none: their host calls
-- are refused until they are republished declaring what they need.
ALTER TABLE task_functions ADD COLUMN permissions TEXT NOT NULL DEFAULT '';
