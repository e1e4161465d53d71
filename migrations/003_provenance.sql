-- Provenance: which serials served which package, as presence ranges, not a row per
-- package per serial. A snapshot touches one row of provenance_indices per Packages index
-- it publishes, and package_presence rows only where an index changed.

-- The state of each Packages index as last recorded: what was parsed, and the newest
-- serial that recorded it. An open presence range (last_serial NULL) reaches that serial.
CREATE TABLE provenance_indices (
  archive        TEXT NOT NULL,
  suite          TEXT NOT NULL,
  component      TEXT NOT NULL,
  arch_dir       TEXT NOT NULL,   -- binary-amd64, binary-all
  parsed_path    TEXT NOT NULL,   -- the upstream variant parsed, relative to dists/<suite>/
  parsed_sha256  TEXT NOT NULL,
  filter_key     TEXT NOT NULL,   -- '' unfiltered, else sha256 of the sorted package filter
  last_serial    TEXT NOT NULL,
  PRIMARY KEY (archive, suite, component, arch_dir)
);

-- One row per unbroken run of serials in which one index listed one package file
-- (name, version, architecture, sha256, file name). Ranges count the serials recorded
-- at the time; queries restrict them to the serials still published (gc collects some).
CREATE TABLE package_presence (
  id            INTEGER PRIMARY KEY,
  archive       TEXT NOT NULL,
  suite         TEXT NOT NULL,
  component     TEXT NOT NULL,
  arch_dir      TEXT NOT NULL,
  package       TEXT NOT NULL,
  version       TEXT NOT NULL,
  architecture  TEXT NOT NULL,
  sha256        TEXT NOT NULL,
  size          INTEGER NOT NULL,
  filename      TEXT NOT NULL,
  first_serial  TEXT NOT NULL,
  last_serial   TEXT              -- NULL: still listed, through the index's last_serial
);
CREATE INDEX package_presence_by_package ON package_presence (package, version);
CREATE INDEX package_presence_open ON package_presence (archive, suite, component, arch_dir) WHERE last_serial IS NULL;
