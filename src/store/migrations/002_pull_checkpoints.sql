-- Where an interrupted pull resumes: the next link of the last committed page
-- (or, per patient, the index below which every patient is done), written in
-- the same transaction as that page's resources.
CREATE TABLE pull_checkpoints (
  source_id         text NOT NULL,
  resource_type     text NOT NULL,
  run_id            text,
  state             jsonb NOT NULL,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, resource_type)
);

-- The same invalid resource seen again (incremental overlap, a re-run) is one dead letter, not many.
ALTER TABLE dead_letters ADD COLUMN payload_hash text;
CREATE UNIQUE INDEX dead_letters_open_once ON dead_letters (source_id, stage, resource_type, resource_id, payload_hash)
  WHERE resolved_at IS NULL AND payload_hash IS NOT NULL;
