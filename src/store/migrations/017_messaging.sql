-- Messages to patients (docs/messaging.md). One row per message: an outbound reminder is stored as an
-- intent (once per Task: dedupe_key) before the provider is called, marked sending (with when) just
-- before the call, and keeps the provider's id after it; its state then moves by the provider's
-- callbacks. An inbound reply is a row too (direction inbound). `recorded_state` is the state last
-- recorded in the EMR (a Communication, the Task moved): a row whose state differs is recorded next.
CREATE TABLE messages (
  id                  bigserial PRIMARY KEY,
  source_id           text NOT NULL,
  patient_id          text NOT NULL,
  programme_id        text,
  direction           text NOT NULL DEFAULT 'outbound' CHECK (direction IN ('outbound', 'inbound')),
  kind                text NOT NULL,
  dedupe_key          text NOT NULL,
  task_identifier     text,
  task_server_id      text,
  about               text,
  channel             text NOT NULL CHECK (channel IN ('sms', 'email')),
  recipient           text NOT NULL,
  recipient_hash      text NOT NULL,
  language            text NOT NULL,
  subject             text,
  body                text NOT NULL,
  not_before          timestamptz,
  not_after           timestamptz,
  state               text NOT NULL DEFAULT 'intent'
                      CHECK (state IN ('intent', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'cancelled', 'received')),
  reason              text,
  provider_id         text,
  attempts            integer NOT NULL DEFAULT 0,
  next_attempt_at     timestamptz NOT NULL DEFAULT now(),
  attempt_started_at  timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  sent_at             timestamptz,
  ended_at            timestamptz,
  recorded_state      text
);
CREATE UNIQUE INDEX messages_once ON messages (source_id, dedupe_key);
CREATE INDEX messages_provider_id ON messages (provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX messages_to_send ON messages (source_id, next_attempt_at) WHERE state IN ('intent', 'sending');
CREATE INDEX messages_to_record ON messages (source_id, id) WHERE recorded_state IS DISTINCT FROM state;
CREATE INDEX messages_patient ON messages (source_id, patient_id, id);
CREATE INDEX messages_recipient ON messages (recipient_hash, id);

-- What providers tell fhir-engage (status callbacks, inbound SMS, unsubscribe clicks), stored as they
-- arrive and applied by the next run. The same callback delivered twice is one row.
CREATE TABLE message_events (
  id            bigserial PRIMARY KEY,
  kind          text NOT NULL CHECK (kind IN ('status', 'inbound', 'unsubscribe')),
  event_key     text NOT NULL UNIQUE,
  provider_id   text,
  status        text,
  error_code    text,
  channel       text,
  address_hash  text,
  address       text,
  body          text,
  received_at   timestamptz NOT NULL DEFAULT now(),
  processed_at  timestamptz
);
CREATE INDEX message_events_pending ON message_events (id) WHERE processed_at IS NULL;

-- A patient's say on a channel, by the address's hash (never the address): opted out until opted in.
CREATE TABLE contact_opt_outs (
  channel       text NOT NULL CHECK (channel IN ('sms', 'email')),
  address_hash  text NOT NULL,
  opted_out     boolean NOT NULL,
  changed_at    timestamptz NOT NULL DEFAULT now(),
  via           text NOT NULL,
  PRIMARY KEY (channel, address_hash)
);
