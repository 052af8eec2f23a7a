-- One row per scheduled tick of a source: the first service instance to insert it runs that tick,
-- so several instances on one database run each scheduled job once (the advisory lock alone only
-- prevents overlap, not a second run of the same tick after the first has finished).
CREATE TABLE scheduled_slots (
  source_id   text NOT NULL,
  slot        timestamptz NOT NULL,
  claimed_by  text NOT NULL,
  claimed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, slot)
);
