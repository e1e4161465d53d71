-- The publication catalog on PostgreSQL (issue 15): what stateless readers answer from.
-- Kept apart from migrations/ (the SQLite catalog's, which test/catalog-postgres.test.ts replays).
-- Applied by server/catalog/pg-publication.ts, once per file, recorded in pub_schema_migrations.

CREATE TABLE pub_serials (
  archive TEXT NOT NULL,
  serial TEXT NOT NULL,
  published_at TIMESTAMPTZ NOT NULL,
  frozen BOOLEAN NOT NULL DEFAULT FALSE,
  valid_until TIMESTAMPTZ,
  -- set when the serial stopped being latest: its by-hash indices stay answerable for a grace time after
  superseded_at TIMESTAMPTZ,
  -- set by gc: readers answer 410 for it from then on; its file rows are gone
  collected_at TIMESTAMPTZ,
  PRIMARY KEY (archive, serial)
);

-- Every path a serial answers (dists files, signed Release/InRelease, proof package, pool paths),
-- relative to the serial's root, and the blob (object `<prefix>sha256/<hash>`) that holds its bytes.
CREATE TABLE pub_files (
  archive TEXT NOT NULL,
  serial TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 CHAR(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size BIGINT NOT NULL CHECK (size >= 0),
  PRIMARY KEY (archive, serial, path),
  FOREIGN KEY (archive, serial) REFERENCES pub_serials (archive, serial) ON DELETE CASCADE
);
CREATE INDEX pub_files_sha256 ON pub_files (sha256);

-- `latest` per archive: moved only by compare-and-swap under the archive's advisory lock.
CREATE TABLE pub_latest (
  archive TEXT PRIMARY KEY,
  serial TEXT NOT NULL,
  moved_at TIMESTAMPTZ NOT NULL,
  FOREIGN KEY (archive, serial) REFERENCES pub_serials (archive, serial)
);
