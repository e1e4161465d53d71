-- Custom repositories (server/uploads/): uploads, the catalog of what each suite holds,
-- overlay suites, upload sessions. A repository's serials live in `serials` like a
-- mirrored archive's (its `archives` row has url 'upload:<name>').

-- Tokens gain the role `uploader` (SQLite cannot alter a CHECK: the table is rebuilt, ids kept).
CREATE TABLE tokens_new (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('admin', 'release-manager', 'uploader')),
  hash        TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL,
  revoked_at  TEXT
);
INSERT INTO tokens_new (id, name, role, hash, created_at, revoked_at) SELECT id, name, role, hash, created_at, revoked_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;

-- Every accepted upload. Refused ones are in the audit log only.
CREATE TABLE uploads (
  id                INTEGER PRIMARY KEY,
  repository        TEXT NOT NULL,
  suite             TEXT NOT NULL,
  source            TEXT NOT NULL,
  version           TEXT NOT NULL,
  signer            TEXT NOT NULL,          -- full fingerprint of the uploader's key
  signature_sha256  TEXT NOT NULL UNIQUE,   -- of the .changes signature packets: a replay is refused
  signed_at         TEXT NOT NULL,
  changes_name      TEXT NOT NULL,
  changes_sha256    TEXT NOT NULL,          -- the signed .changes as uploaded (a store blob)
  buildinfo_name    TEXT,
  buildinfo_sha256  TEXT,
  build_env         TEXT,                   -- JSON: the mirrored serials holding every build dependency, or the missing ones
  tainted_by        TEXT,                   -- Build-Tainted-By, space separated
  actor             TEXT NOT NULL,
  accepted_at       TEXT NOT NULL,
  serial            TEXT                    -- the first serial that published it
);

-- The catalog: each (kind, name, version, architecture) once per repository, never changed.
CREATE TABLE repo_packages (
  id            INTEGER PRIMARY KEY,
  repository    TEXT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('binary', 'source')),
  name          TEXT NOT NULL,
  version       TEXT NOT NULL,
  architecture  TEXT NOT NULL,              -- 'source' for a source package
  component     TEXT NOT NULL,
  sha256        TEXT NOT NULL,              -- the .deb, or the .dsc
  size          INTEGER NOT NULL,
  filename      TEXT NOT NULL,              -- pool path of the .deb or .dsc
  stanza        TEXT NOT NULL,              -- its Packages / Sources stanza, ending in one newline
  files         TEXT NOT NULL,              -- JSON [{path, sha256, size}]: every pool file it needs
  upload_id     INTEGER NOT NULL REFERENCES uploads(id),
  UNIQUE (repository, kind, name, version, architecture)
);

-- Pool paths are immutable too (an orig tarball is shared by the versions of a source).
CREATE TABLE repo_pool (
  repository  TEXT NOT NULL,
  path        TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  size        INTEGER NOT NULL,
  PRIMARY KEY (repository, path)
);

-- What each suite holds now (several versions of a package may be held at once).
CREATE TABLE repo_suite_packages (
  repository  TEXT NOT NULL,
  suite       TEXT NOT NULL,
  package_id  INTEGER NOT NULL REFERENCES repo_packages(id),
  PRIMARY KEY (repository, suite, package_id)
);

-- Overlay suites made by `aptfreeze suite create` (configured suites have no row).
CREATE TABLE repo_suites (
  repository  TEXT NOT NULL,
  suite       TEXT NOT NULL,
  base        TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  created_by  TEXT NOT NULL,
  PRIMARY KEY (repository, suite)
);

-- Upload sessions: the files of one upload collect in <data>/incoming/<repository>/<id>/.
CREATE TABLE upload_sessions (
  id          TEXT PRIMARY KEY,
  repository  TEXT NOT NULL,
  actor       TEXT NOT NULL,
  name        TEXT NOT NULL,                -- the incoming path's session segment, '' for none
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  bytes       INTEGER NOT NULL DEFAULT 0,
  UNIQUE (repository, actor, name)
);
