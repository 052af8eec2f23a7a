-- What fhir-engage has written to each EMR, by its own identifier: where it lives on the
-- server, the version last seen, and the hash of the content last sent (unchanged content
-- sends nothing). `state` follows a Task's life: open, closed by fhir-engage, or handled by a
-- person in the EMR (then fhir-engage leaves it alone).
CREATE TABLE written_resources (
  source_id         text NOT NULL,
  identifier_value  text NOT NULL,
  resource_type     text NOT NULL,
  patient_id        text NOT NULL,
  rule              text NOT NULL,
  target            text NOT NULL,
  server_id         text,
  version_id        text,
  content_hash      text NOT NULL,
  status            text,
  state             text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'handled-by-person')),
  run_id            text,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, identifier_value)
);
CREATE INDEX written_resources_patient ON written_resources (source_id, patient_id);

-- Safety Tasks (priority 0) are sent before everything else.
ALTER TABLE outbox ADD COLUMN priority integer NOT NULL DEFAULT 1;
DROP INDEX outbox_claimable;
CREATE INDEX outbox_claimable ON outbox (priority, id) WHERE state IN ('pending', 'sending');

-- The as-of instant of the last indicator computation: time-based indicators move by the day.
ALTER TABLE patient_models ADD COLUMN computed_as_of timestamptz;
ALTER TABLE patient_models ADD COLUMN indicators jsonb;
