-- Issue 9: named tokens with roles, server-side browser sessions, the audit
-- trail and host-key approval. Times are bigint nanoseconds since the Unix
-- epoch, as the jobs' are; secrets are never stored, only
-- gaffer.HashSecret of them.
CREATE TABLE tokens (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- never reused: an audit entry names one
	name       text NOT NULL,
	role       text NOT NULL,
	hash       text NOT NULL UNIQUE,
	created_by text NOT NULL,
	created_at bigint NOT NULL,
	expires_at bigint, -- NULL: never
	revoked_at bigint  -- NULL: not revoked
);

-- CreateToken looks for an active token of the same name.
CREATE INDEX tokens_name_idx ON tokens (name);

CREATE TABLE sessions (
	hash       text PRIMARY KEY,
	token_id   bigint NOT NULL, -- 0: the admin token, which has no row in tokens
	name       text NOT NULL,
	role       text NOT NULL,
	created_at bigint NOT NULL,
	expires_at bigint NOT NULL
);

-- Revoking a token deletes its sessions; the sweep deletes expired ones.
CREATE INDEX sessions_token_idx ON sessions (token_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- detail is text, not jsonb: jsonb would give back a re-encoded object,
-- and the trail keeps what was recorded byte for byte.
CREATE TABLE audit (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ts          bigint NOT NULL,
	actor       text NOT NULL,
	action      text NOT NULL,
	target      text NOT NULL,
	remote_addr text NOT NULL,
	detail      text -- a JSON object; NULL: none
);

-- The trail is filtered by action or actor, newest first.
CREATE INDEX audit_action_idx ON audit (action, id);
CREATE INDEX audit_actor_idx ON audit (actor, id);

-- Append-only in the database itself, not only in the code: an entry can
-- be neither changed nor deleted, by any role without the right to drop
-- these triggers.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit trail is append-only: entries cannot be changed or deleted';
END
$$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE TABLE host_keys (
	host        text NOT NULL, -- the inventory name
	fingerprint text NOT NULL, -- SHA256:…
	address     text NOT NULL,
	type        text NOT NULL,
	key         text NOT NULL, -- authorized_keys form
	state       text NOT NULL, -- 'pending' or 'approved'
	first_seen  bigint NOT NULL,
	last_seen   bigint NOT NULL,
	approved_by text NOT NULL DEFAULT '',
	approved_at bigint,
	PRIMARY KEY (host, fingerprint)
);
