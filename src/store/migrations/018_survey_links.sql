-- Survey links (docs/surveys.md): one per survey Task a patient is invited to answer. The URL names the
-- row by its random id and carries a MAC over the row's binding (source, patient, Task, expiry); no
-- patient data is in the URL. `submitted_at` is set once (the answer is then in the outbox, `outbox_id`);
-- a second submission finds it set and shows "already answered".
CREATE TABLE survey_links (
  id                   text PRIMARY KEY,
  source_id            text NOT NULL,
  patient_id           text NOT NULL,
  task_identifier      text NOT NULL,
  task_server_id       text NOT NULL,
  questionnaire        text NOT NULL,
  language             text NOT NULL,
  expires_at           timestamptz NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  opened_at            timestamptz,
  birth_date_failures  integer NOT NULL DEFAULT 0,
  submitted_at         timestamptz,
  crisis               boolean NOT NULL DEFAULT false,
  outbox_id            bigint
);
CREATE UNIQUE INDEX survey_links_task ON survey_links (source_id, task_identifier);
CREATE INDEX survey_links_patient ON survey_links (source_id, patient_id);
