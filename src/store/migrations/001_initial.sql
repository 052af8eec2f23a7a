-- fhir-engage initial schema. Applied inside one transaction by src/store/migrate.ts.

CREATE TABLE sources (
  id          text PRIMARY KEY,
  name        text,
  base_url    text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sync_runs (
  id            text PRIMARY KEY,
  source_id     text NOT NULL,
  status        text NOT NULL CHECK (status IN ('running', 'succeeded', 'partially-failed', 'failed', 'interrupted')),
  as_of         timestamptz NOT NULL,
  options       jsonb NOT NULL DEFAULT '{}'::jsonb,
  counts        jsonb NOT NULL DEFAULT '{}'::jsonb,
  error         jsonb,
  started_at    timestamptz NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);
CREATE INDEX sync_runs_source_started ON sync_runs (source_id, started_at DESC);
CREATE INDEX sync_runs_running ON sync_runs (status) WHERE status = 'running';

-- Greatest meta.lastUpdated committed per (source, type): where the next incremental pull starts.
CREATE TABLE watermarks (
  source_id      text NOT NULL,
  resource_type  text NOT NULL,
  last_updated   timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, resource_type)
);

-- Resources as pulled. content_hash ignores meta.versionId/lastUpdated so that a
-- server that bumps versions without changing content causes no work downstream.
CREATE TABLE resources (
  source_id      text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  version_id     text,
  last_updated   timestamptz,
  content_hash   text NOT NULL,
  patient_id     text,
  resource       jsonb NOT NULL,
  run_id         text,
  first_seen_at  timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, resource_type, resource_id)
);
CREATE INDEX resources_patient ON resources (source_id, patient_id);

-- The engagement model of each patient, as last mapped.
CREATE TABLE patient_models (
  source_id   text NOT NULL,
  patient_id  text NOT NULL,
  model       jsonb NOT NULL,
  model_hash  text NOT NULL,
  run_id      text,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, patient_id)
);

-- Every indicator computation that changed a value, so trends can be shown.
CREATE TABLE indicator_history (
  id          bigserial PRIMARY KEY,
  source_id   text NOT NULL,
  patient_id  text NOT NULL,
  indicator   text NOT NULL,
  value       jsonb NOT NULL,
  value_hash  text NOT NULL,
  as_of       timestamptz NOT NULL,
  run_id      text,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX indicator_history_lookup ON indicator_history (source_id, patient_id, indicator, as_of DESC);

-- Planned writes to an EMR. A row is claimed with a lease, sent, then acked.
CREATE TABLE outbox (
  id                bigserial PRIMARY KEY,
  source_id         text NOT NULL,
  run_id            text,
  target            text NOT NULL,
  dedupe_key        text NOT NULL,
  resource_type     text NOT NULL,
  payload           jsonb NOT NULL,
  content_hash      text NOT NULL,
  state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
  attempts          integer NOT NULL DEFAULT 0,
  claimed_by        text,
  lease_until       timestamptz,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  last_error        jsonb,
  result            jsonb,
  created_at        timestamptz NOT NULL DEFAULT now(),
  sent_at           timestamptz
);
-- One live (unsent) write per identity and content: re-planning the same write is a no-op.
CREATE UNIQUE INDEX outbox_live_dedupe ON outbox (dedupe_key, content_hash) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_claimable ON outbox (next_attempt_at, id) WHERE state IN ('pending', 'sending');

-- What could not be processed, with an OperationOutcome saying why. Nothing is dropped silently.
CREATE TABLE dead_letters (
  id             bigserial PRIMARY KEY,
  source_id      text NOT NULL,
  run_id         text,
  stage          text NOT NULL CHECK (stage IN ('pull', 'validate', 'map', 'indicators', 'actions', 'write')),
  resource_type  text,
  resource_id    text,
  payload        jsonb,
  outcome        jsonb NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  retried_at     timestamptz,
  resolved_at    timestamptz
);
CREATE INDEX dead_letters_source ON dead_letters (source_id, created_at DESC);
