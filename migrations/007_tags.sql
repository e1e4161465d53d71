-- Tags: named, permanent, partial snapshots made from a build manifest (server/tags/).
-- A tag has one row per archive it covers; each names the serial its packages were taken
-- from and the manifest blob (the serial manifest's format) of its published tree, which
-- gc reads so that a tag's blobs outlive the serials they came from.
CREATE TABLE tags (
  name            TEXT PRIMARY KEY,
  created_at      TEXT NOT NULL,
  created_by      TEXT NOT NULL,
  build_manifest  TEXT NOT NULL      -- sha256 of the build manifest as given (a store blob)
);

CREATE TABLE tag_archives (
  tag              TEXT NOT NULL REFERENCES tags(name) ON DELETE CASCADE,
  archive          TEXT NOT NULL,
  serial           TEXT NOT NULL,    -- the serial the packages were taken from
  manifest_sha256  TEXT NOT NULL,    -- every store blob of the tag's tree (snapshot/manifest.ts)
  binaries         INTEGER NOT NULL, -- binary package stanzas served (an arch-all one once per index)
  sources          INTEGER NOT NULL,
  bytes            INTEGER NOT NULL, -- pool bytes
  PRIMARY KEY (tag, archive)
);
