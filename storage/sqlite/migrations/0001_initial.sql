-- Tasker schema, version 1. Times are microseconds since the Unix epoch.
-- Payloads (input, result, args, errors) are JSON text.
CREATE TABLE task_functions (
  identifier   TEXT   NOT NULL,
  version      BIGINT NOT NULL,
  code         TEXT   NOT NULL,
  metadata     TEXT   NOT NULL,
  code_sha256  TEXT   NOT NULL,
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (identifier, version)
);

CREATE TABLE task_runs (
  id                 TEXT    PRIMARY KEY,
  task_identifier    TEXT    NOT NULL,
  task_version       BIGINT  NOT NULL,
  status             INTEGER NOT NULL,
  input              TEXT    NOT NULL,
  result             TEXT,
  error              TEXT,
  idempotency_key    TEXT    UNIQUE,
  root_stack_run_id  TEXT    NOT NULL,
  suspend_count      INTEGER NOT NULL DEFAULT 0,
  created_at         BIGINT  NOT NULL,
  updated_at         BIGINT  NOT NULL,
  suspended_at       BIGINT,
  completed_at       BIGINT,
  FOREIGN KEY (task_identifier, task_version) REFERENCES task_functions (identifier, version)
);
CREATE INDEX task_runs_created ON task_runs (created_at, id);
CREATE INDEX task_runs_status_created ON task_runs (status, created_at);
CREATE INDEX task_runs_task_created ON task_runs (task_identifier, created_at);

CREATE TABLE run_logs (
  task_run_id  TEXT    NOT NULL REFERENCES task_runs (id),
  seq          BIGINT  NOT NULL,
  time         BIGINT  NOT NULL,
  level        TEXT    NOT NULL,
  message      TEXT    NOT NULL,
  PRIMARY KEY (task_run_id, seq)
);

CREATE TABLE stack_runs (
  id                TEXT    PRIMARY KEY,
  task_run_id       TEXT    NOT NULL REFERENCES task_runs (id),
  parent_id         TEXT,
  kind              INTEGER NOT NULL,
  status            INTEGER NOT NULL,
  service           TEXT    NOT NULL DEFAULT '',
  method            TEXT    NOT NULL DEFAULT '',
  args              TEXT,
  call_index        INTEGER NOT NULL DEFAULT 0,
  call_id           TEXT    NOT NULL DEFAULT '',
  result            TEXT,
  error             TEXT,
  attempt           INTEGER NOT NULL DEFAULT 0,
  next_attempt_at   BIGINT  NOT NULL,
  lease_owner       TEXT,
  lease_expires_at  BIGINT,
  fencing_token     BIGINT  NOT NULL DEFAULT 0,
  waiting           INTEGER NOT NULL DEFAULT 0,
  suspension        INTEGER NOT NULL DEFAULT 0,
  created_at        BIGINT  NOT NULL,
  updated_at        BIGINT  NOT NULL,
  completed_at      BIGINT
);
CREATE INDEX stack_runs_ready ON stack_runs (kind, status, next_attempt_at);
CREATE INDEX stack_runs_lease ON stack_runs (status, lease_expires_at);
CREATE INDEX stack_runs_run ON stack_runs (task_run_id, created_at);
CREATE INDEX stack_runs_parent ON stack_runs (parent_id, suspension, call_index);

CREATE TABLE continuations (
  stack_run_id    TEXT    PRIMARY KEY REFERENCES stack_runs (id),
  data            BLOB      NOT NULL,
  format_version  INTEGER NOT NULL,
  v8_version      TEXT    NOT NULL,
  checksum        BIGINT  NOT NULL,
  raw_size        BIGINT  NOT NULL,
  created_at      BIGINT  NOT NULL
);

CREATE TABLE keystore (
  namespace        TEXT   NOT NULL,
  key              TEXT   NOT NULL,
  encrypted_value  BLOB     NOT NULL,
  updated_at       BIGINT NOT NULL,
  PRIMARY KEY (namespace, key)
);

CREATE TABLE task_locks (
  task_run_id    TEXT   PRIMARY KEY,
  owner          TEXT   NOT NULL,
  expires_at     BIGINT NOT NULL,
  fencing_token  BIGINT NOT NULL
);
