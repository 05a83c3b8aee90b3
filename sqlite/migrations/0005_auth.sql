-- Issue 9: named tokens with roles, server-side browser sessions, the audit
-- trail and host-key approval. Times are text in the jobs' format; secrets
-- are never stored, only gaffer.HashSecret of them.
CREATE TABLE tokens (
	id         INTEGER PRIMARY KEY AUTOINCREMENT, -- ids are never reused: an audit entry names one
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	created_by TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT, -- NULL: never
	revoked_at TEXT  -- NULL: not revoked
);

-- CreateToken looks for an active token of the same name.
CREATE INDEX tokens_name_idx ON tokens (name);

CREATE TABLE sessions (
	hash       TEXT PRIMARY KEY,
	token_id   INTEGER NOT NULL, -- 0: the admin token, which has no row in tokens
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);

-- Revoking a token deletes its sessions; the sweep deletes expired ones.
CREATE INDEX sessions_token_idx ON sessions (token_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE audit (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	ts          TEXT NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	target      TEXT NOT NULL,
	remote_addr TEXT NOT NULL,
	detail      TEXT -- a JSON object kept as given, byte for byte; NULL: none
);

-- The trail is filtered by action or actor, newest first.
CREATE INDEX audit_action_idx ON audit (action, id);
CREATE INDEX audit_actor_idx ON audit (actor, id);

-- Append-only in the database itself, not only in the code: an entry can
-- be neither changed nor deleted, whoever holds the file open.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be changed');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be deleted');
END;

CREATE TABLE host_keys (
	host        TEXT NOT NULL, -- the inventory name
	fingerprint TEXT NOT NULL, -- SHA256:…
	address     TEXT NOT NULL,
	type        TEXT NOT NULL,
	key         TEXT NOT NULL, -- authorized_keys form
	state       TEXT NOT NULL, -- 'pending' or 'approved'
	first_seen  TEXT NOT NULL,
	last_seen   TEXT NOT NULL,
	approved_by TEXT NOT NULL DEFAULT '',
	approved_at TEXT,
	PRIMARY KEY (host, fingerprint)
);
