-- Server settings that must survive restarts, such as the admin token's hash
-- and the cookie-signing secret.
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
