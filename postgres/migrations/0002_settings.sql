-- Server settings that must survive restarts, such as the admin token's hash
-- and the cookie-signing secret.
CREATE TABLE settings (
	key   text PRIMARY KEY,
	value text NOT NULL
);
