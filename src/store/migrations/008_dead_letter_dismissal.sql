-- A dead letter dismissed from the dashboard keeps why and by whom (an API key's id), for audit.
ALTER TABLE dead_letters ADD COLUMN dismissed_reason text;
ALTER TABLE dead_letters ADD COLUMN dismissed_by text;
