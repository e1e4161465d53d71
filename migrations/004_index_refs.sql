-- Derived data: the pool files an upstream index names, parsed once per index hash.
-- An unchanged index is then not parsed again on the next cycle. The blob may be
-- collected by gc; a row whose blob is gone is a cache miss.
CREATE TABLE index_refs (
  index_sha256  TEXT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('packages', 'sources')),
  refs_sha256   TEXT NOT NULL,
  PRIMARY KEY (index_sha256, kind)
);
