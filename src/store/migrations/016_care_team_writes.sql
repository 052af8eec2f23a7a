-- Writes a person asked for from the dashboard (docs/care-team.md) live in the outbox like planned
-- writes; these indexes find a patient's (their activity on the patient's page) and one request's
-- (a request sent twice is answered with its first row, never enqueued again).
CREATE INDEX outbox_person_writes ON outbox (source_id, (payload->>'patientId'), id)
  WHERE payload->>'op' IN ('task-action', 'communication');
CREATE INDEX outbox_dedupe_key ON outbox (source_id, dedupe_key);
CREATE INDEX written_resources_server ON written_resources (source_id, server_id);
