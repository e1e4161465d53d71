-- snapshot.debian.org's API (/mr/, /file/<sha1>) names files by SHA-1, which apt's indices no longer
-- list: the SHA-1 of every fetched blob is computed while its sha256 is checked, and recorded here.
CREATE TABLE blob_sha1 (
  sha256  TEXT PRIMARY KEY,
  sha1    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX blob_sha1_by_sha1 ON blob_sha1 (sha1);

-- What the snapshot.debian.org-compatible reads answer, read from the served indices of each
-- published serial (server/snapmr/index.ts). Each served index is read once per archive; a file's
-- first_serial is the first serial of the archive that served it.
CREATE TABLE mr_files (
  sha256        TEXT NOT NULL,
  archive       TEXT NOT NULL,
  path          TEXT NOT NULL,    -- the pool directory, '/pool/main/t/tor'
  name          TEXT NOT NULL,
  size          INTEGER NOT NULL,
  first_serial  TEXT NOT NULL,
  PRIMARY KEY (sha256, archive, path, name)
) WITHOUT ROWID;

CREATE TABLE mr_sources (
  source   TEXT NOT NULL,
  version  TEXT NOT NULL,
  sha256   TEXT NOT NULL,
  PRIMARY KEY (source, version, sha256)
) WITHOUT ROWID;

CREATE TABLE mr_binaries (
  name            TEXT NOT NULL,
  version         TEXT NOT NULL,
  source          TEXT NOT NULL,
  source_version  TEXT NOT NULL,
  architecture    TEXT NOT NULL,
  sha256          TEXT NOT NULL,
  PRIMARY KEY (name, version, architecture, sha256)
) WITHOUT ROWID;
CREATE INDEX mr_binaries_by_source ON mr_binaries (source, source_version);

-- Served indices already read (by archive and hash), and serials already indexed.
CREATE TABLE mr_indices (
  archive  TEXT NOT NULL,
  sha256   TEXT NOT NULL,
  PRIMARY KEY (archive, sha256)
) WITHOUT ROWID;
CREATE TABLE mr_serials (
  archive  TEXT NOT NULL,
  serial   TEXT NOT NULL,
  PRIMARY KEY (archive, serial)
) WITHOUT ROWID;
