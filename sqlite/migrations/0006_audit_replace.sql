-- INSERT OR REPLACE deletes the row it replaces without firing DELETE
-- triggers (recursive_triggers is off), so 0005's triggers let it rewrite an
-- audit entry: refuse an insert of an id that is already taken. (An insert
-- with no id has NEW.id -1 here, never a stored id.)
CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN
	SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be replaced');
END;
