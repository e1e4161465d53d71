-- Operations: every mutation (snapshot, freeze, thaw, gc, fsck --repair, token create/revoke) is
-- recorded here by the one runner of the data directory (server/ops/). An operation refused
-- because another holds a resource it needs is recorded too, failed with CONFLICT.
CREATE TABLE operations (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  kind         TEXT NOT NULL,
  archive      TEXT,
  actor        TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed')),
  -- The resources it holds while pending or running (JSON array of lock names).
  resources    TEXT NOT NULL,
  -- The process whose runner owns it: a pending or running operation of a dead process was interrupted.
  pid          INTEGER NOT NULL,
  progress     TEXT NOT NULL DEFAULT '{}',
  result       TEXT,
  error        TEXT,
  created_at   TEXT NOT NULL,
  started_at   TEXT,
  finished_at  TEXT
);
CREATE INDEX operations_state ON operations (state);

-- One lock implementation (db/repo.ts tryLock): the snapshot locks were named `snapshot:<archive>`;
-- the resource of an archive is now `archive:<archive>`. A row left by a process that has exited
-- is taken over anyway; these are dropped so no old name lingers.
DELETE FROM locks WHERE name LIKE 'snapshot:%';
