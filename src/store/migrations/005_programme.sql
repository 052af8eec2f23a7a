-- fhir-engage's own Tasks as the EMR reports them back: one row per status a Task was seen in, with
-- when it changed (Task.lastModified, else meta.lastUpdated), so that turnaround and outcomes of
-- reminders, surveys and outreach can be measured (docs/programme.md).
CREATE TABLE task_events (
  source_id         text NOT NULL,
  identifier_value  text NOT NULL,
  task_id           text NOT NULL,
  patient_id        text,
  status            text NOT NULL,
  owner             text,
  focus             text,
  authored_on       timestamptz,
  changed_at        timestamptz NOT NULL,
  recorded_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, identifier_value, status)
);
CREATE INDEX task_events_changed ON task_events (source_id, changed_at);

-- Programme figures as of each run's day, so that trends can be drawn.
CREATE TABLE programme_history (
  source_id   text NOT NULL,
  as_of       date NOT NULL,
  figures     jsonb NOT NULL,
  run_id      text,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, as_of)
);
