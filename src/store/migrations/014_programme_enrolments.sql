-- Who was enrolled in which programme, and when (docs/programme.md, "Enrolment over time"): one row per
-- spell; a patient who stops matching has their spell ended (ended_at, end_reason), one who matches
-- again starts a new one. At most one open spell per patient and programme.
CREATE TABLE programme_enrolments (
  id            bigserial PRIMARY KEY,
  source_id     text NOT NULL,
  programme_id  text NOT NULL,
  patient_id    text NOT NULL,
  started_at    timestamptz NOT NULL,
  start_run_id  text,
  ended_at      timestamptz,
  end_run_id    text,
  end_reason    text
);
CREATE UNIQUE INDEX programme_enrolments_open ON programme_enrolments (source_id, programme_id, patient_id)
  WHERE ended_at IS NULL;
CREATE INDEX programme_enrolments_patient ON programme_enrolments (source_id, patient_id);
CREATE INDEX programme_enrolments_period ON programme_enrolments (source_id, programme_id, started_at);
