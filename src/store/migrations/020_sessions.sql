-- Dashboard sessions of people signed in through the identity provider (docs/operations.md, "People and
-- access"). The cookie holds a random value; only its SHA-256 is stored. A sign-in under way keeps its
-- PKCE verifier and nonce by its state's hash until the provider sends the browser back (once).
CREATE TABLE sessions (
  id            text PRIMARY KEY,
  subject       text NOT NULL,
  name          text NOT NULL,
  roles         text[] NOT NULL,
  sources       text[],
  csrf          text NOT NULL,
  id_token      text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE sso_logins (
  state_hash   text PRIMARY KEY,
  verifier     text NOT NULL,
  nonce        text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
