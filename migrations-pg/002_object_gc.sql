-- gc of the object store (issue 15). A blob that no serial's file list references is deleted only
-- after it has been seen unreferenced for the grace period (an upload of a writer whose publication
-- has not committed yet, a reader in the middle of a download), and never under a publication that
-- names it: the writer's publish transaction and gc's claim serialize on one advisory lock, and a
-- publication fails (CONFLICT) when a blob it names was claimed for deletion after the writer
-- looked for it in the store (pub_gc_claims, ordered by pub_gc_seq).

CREATE SEQUENCE pub_gc_seq;

-- Blobs seen unreferenced by gc's mark, and since when; a publication naming one removes its row.
CREATE TABLE pub_gc_unreferenced (
  sha256 CHAR(64) PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  first_seen TIMESTAMPTZ NOT NULL
);

-- Blobs gc claimed for deletion: done_seq stays NULL until the object is confirmed deleted.
CREATE TABLE pub_gc_claims (
  sha256 CHAR(64) PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  claimed_seq BIGINT NOT NULL,
  done_seq BIGINT,
  done_at TIMESTAMPTZ
);
