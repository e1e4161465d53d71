-- The service's public key as readers serve it (`/keys/aptfreeze.asc`, `/keys/aptfreeze.gpg`):
-- exported by the writer at its start, the bytes a blob like any other (gc counts these rows as
-- references, server/catalog/pg-gc.ts).
CREATE TABLE pub_keys (
  name TEXT PRIMARY KEY CHECK (name IN ('aptfreeze.asc', 'aptfreeze.gpg')),
  sha256 CHAR(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size BIGINT NOT NULL CHECK (size >= 0),
  exported_at TIMESTAMPTZ NOT NULL
);
