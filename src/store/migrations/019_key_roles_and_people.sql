-- People and access (docs/operations.md, "People and access"): API keys get a name, roles, the sources
-- they may see (NULL: every source), an expiry and who made them. Keys made before (the first-start key,
-- `api-key new`) keep every role and every source: the docs say to replace them with named, scoped keys.
ALTER TABLE api_keys ADD COLUMN name text;
ALTER TABLE api_keys ADD COLUMN roles text[] NOT NULL DEFAULT ARRAY['care-manager', 'programme-lead', 'integration', 'admin'];
ALTER TABLE api_keys ADD COLUMN sources text[];
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
ALTER TABLE api_keys ADD COLUMN created_by text;
UPDATE api_keys SET name = id WHERE name IS NULL;
ALTER TABLE api_keys ALTER COLUMN name SET NOT NULL;

-- The access log names who acted: a person (their subject and name) or a key (its id and name), the
-- role the route needed, and for a change (a Task action, a note) what changed, in words.
ALTER TABLE access_log ADD COLUMN actor_kind text NOT NULL DEFAULT 'key';
ALTER TABLE access_log ADD COLUMN actor_name text;
ALTER TABLE access_log ADD COLUMN role text;
ALTER TABLE access_log ADD COLUMN change text;
CREATE INDEX access_log_actor ON access_log (key_id, at);
