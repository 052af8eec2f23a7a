-- Planned writes held for a person's approval (docs/programme.md, "A first run that asks before it
-- writes"): one row per hold; the plan is the source's pending outbox rows up to up_to_outbox_id.
CREATE TABLE write_approvals (
  id               bigserial PRIMARY KEY,
  source_id        text NOT NULL,
  run_id           text,
  reason           text NOT NULL,
  detail           text NOT NULL,
  plan             jsonb NOT NULL,
  up_to_outbox_id  bigint NOT NULL,
  held_at          timestamptz NOT NULL DEFAULT now(),
  approved_at      timestamptz,
  approved_by      text
);
CREATE INDEX write_approvals_open ON write_approvals (source_id) WHERE approved_at IS NULL;
