-- Archives as configured when they were first snapshotted.
CREATE TABLE archives (
  name        TEXT PRIMARY KEY,
  url         TEXT NOT NULL,
  created_at  TEXT NOT NULL
);

-- One row per serial ever allocated, so a serial is never reused.
-- pending: being built (a crash leaves it; recovery marks it failed)
-- live | frozen: published; expired is derived (valid_until < now, not frozen)
-- collected: removed by gc (its URLs answer 410)
-- failed: never published
CREATE TABLE serials (
  archive          TEXT NOT NULL REFERENCES archives(name),
  serial           TEXT NOT NULL,
  state            TEXT NOT NULL CHECK (state IN ('pending', 'live', 'frozen', 'collected', 'failed')),
  created_at       TEXT NOT NULL,
  published_at     TEXT,
  valid_until      TEXT,
  frozen_until     TEXT,
  freeze_reason    TEXT,
  frozen_by        TEXT,
  frozen_at        TEXT,
  collected_at     TEXT,
  manifest_sha256  TEXT,          -- store blob listing every store-linked file of the serial's tree
  stats            TEXT,          -- JSON: counts and bytes of the run
  error            TEXT,
  PRIMARY KEY (archive, serial)
);

-- What each serial took from each upstream suite (for rollback checks and proofs).
CREATE TABLE suite_snapshots (
  archive            TEXT NOT NULL,
  serial             TEXT NOT NULL,
  suite              TEXT NOT NULL,
  release_date       TEXT NOT NULL,   -- upstream Date, ISO
  upstream_sha256    TEXT NOT NULL,   -- of the upstream InRelease (or Release)
  signers            TEXT NOT NULL,   -- JSON array of fingerprints
  fetched_at         TEXT NOT NULL,
  PRIMARY KEY (archive, serial, suite),
  FOREIGN KEY (archive, serial) REFERENCES serials(archive, serial)
);

-- Cross-process locks (the daemon and the CLI share the data directory).
CREATE TABLE locks (
  name         TEXT PRIMARY KEY,
  pid          INTEGER NOT NULL,
  acquired_at  TEXT NOT NULL
);

CREATE TABLE tokens (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('admin', 'release-manager')),
  hash        TEXT NOT NULL UNIQUE,   -- sha256 of the token; the token itself is never stored
  created_at  TEXT NOT NULL,
  revoked_at  TEXT
);

-- Append-only: triggers refuse UPDATE and DELETE.
CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY,
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT NOT NULL,
  before  TEXT,
  after   TEXT
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
