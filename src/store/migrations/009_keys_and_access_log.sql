-- API keys fhir-engage made itself (when FHIR_ENGAGE_API_KEY is unset): only their SHA-256 digest is kept.
CREATE TABLE api_keys (
  id          text PRIMARY KEY,
  digest      text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

-- Who (an API key's id) read which patient's data, when and from where. Never names or identifier values.
CREATE TABLE access_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  key_id      text NOT NULL,
  client      text,
  method      text NOT NULL,
  route       text NOT NULL,
  status      integer NOT NULL,
  source_id   text,
  patient_id  text
);
CREATE INDEX access_log_at ON access_log (at);
CREATE INDEX access_log_patient ON access_log (patient_id, at) WHERE patient_id IS NOT NULL;
