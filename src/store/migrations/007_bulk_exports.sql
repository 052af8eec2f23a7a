-- A Bulk Data export in progress per source (FHIR Bulk Data Access v2): its status URL from the
-- kick-off, then its manifest, and per file how many lines (and bytes) are committed, so that a
-- crash resumes each file at its last committed line instead of starting the export again.
CREATE TABLE bulk_exports (
  source_id      text PRIMARY KEY,
  run_id         text,
  status_url     text NOT NULL,
  request        jsonb NOT NULL,
  kicked_off_at  timestamptz NOT NULL DEFAULT now(),
  manifest       jsonb,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bulk_export_files (
  source_id      text NOT NULL,
  url            text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('output', 'error')),
  resource_type  text NOT NULL,
  position       integer NOT NULL,
  lines          integer NOT NULL DEFAULT 0,
  bytes          bigint NOT NULL DEFAULT 0,
  done           boolean NOT NULL DEFAULT false,
  PRIMARY KEY (source_id, url)
);
