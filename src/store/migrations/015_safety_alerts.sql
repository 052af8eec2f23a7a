-- Safety alerts (docs/operations.md, "Safety alerts"): one row per open safety Task and channel,
-- stored before the channel is called (the intent), then sent, retried with back-off until it is,
-- and sent again while nobody acknowledges it. The Task's end (a person closed it) resolves it.
CREATE TABLE safety_alerts (
  id                bigserial PRIMARY KEY,
  source_id         text NOT NULL,
  patient_id        text NOT NULL,
  task_identifier   text NOT NULL,
  task_server_id    text,
  channel           text NOT NULL CHECK (channel IN ('webhook', 'email')),
  state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'acknowledged', 'resolved')),
  attempts          integer NOT NULL DEFAULT 0,
  sends             integer NOT NULL DEFAULT 0,
  last_error        text,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  last_sent_at      timestamptz,
  acknowledged_at   timestamptz,
  acknowledged_by   text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_id, task_identifier, channel)
);
CREATE INDEX safety_alerts_due ON safety_alerts (next_attempt_at) WHERE state IN ('pending', 'sent');
