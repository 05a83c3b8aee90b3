package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gaffer-dev/gaffer"

	"modernc.org/sqlite"
)

// Ensure DB implements the interface.
var _ gaffer.AuthStore = (*DB)(nil)

const tokenColumns = `id, name, role, hash, created_by, created_at, expires_at, revoked_at`

// CreateToken assigns t.ID and stores t. A zero CreatedAt becomes the
// current time; CreatedAt is written back to t in UTC, as stored. ECONFLICT
// if a token active at t.CreatedAt already has t.Name.
func (db *DB) CreateToken(ctx context.Context, t *gaffer.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = db.now()
	}
	t.CreatedAt = t.CreatedAt.UTC()
	createdAt := formatTime(t.CreatedAt)

	// A write transaction (BEGIN IMMEDIATE): the check and the insert
	// cannot interleave with another instance's.
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return busy(ctx, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()

	var id int64
	err = tx.QueryRowContext(ctx, `
		SELECT id FROM tokens
		WHERE name = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY id LIMIT 1`, t.Name, createdAt).Scan(&id)
	if err == nil {
		return gaffer.TokenNameTaken(t.Name, id)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return busy(ctx, fmt.Errorf("find token %q: %w", t.Name, err))
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO tokens (name, role, hash, created_by, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Name, string(t.Role), t.Hash, t.CreatedBy, createdAt, formatTimePtr(t.ExpiresAt), formatTimePtr(t.RevokedAt))
	if isUnique(err) {
		return gaffer.Errorf(gaffer.ECONFLICT, "another token already has this secret")
	} else if err != nil {
		return busy(ctx, fmt.Errorf("insert token %q: %w", t.Name, err))
	}
	if id, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("token id: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return busy(ctx, fmt.Errorf("commit: %w", err))
	}
	t.ID = id
	return nil
}

// FindToken returns the token with id, revoked or not; ENOTFOUND if none.
func (db *DB) FindToken(ctx context.Context, id int64) (*gaffer.Token, error) {
	tokens, err := db.findTokens(ctx, `WHERE id = ?`, id)
	if err != nil {
		return nil, err
	} else if len(tokens) == 0 {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "token %d does not exist", id)
	}
	return tokens[0], nil
}

// FindTokenByHash returns the token whose secret hashes to hash, revoked or
// expired ones included; ENOTFOUND if none. The message does not repeat
// the hash.
func (db *DB) FindTokenByHash(ctx context.Context, hash string) (*gaffer.Token, error) {
	tokens, err := db.findTokens(ctx, `WHERE hash = ?`, hash)
	if err != nil {
		return nil, err
	} else if len(tokens) == 0 {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no such token")
	}
	return tokens[0], nil
}

// FindTokens lists every token, revoked ones included, by id.
func (db *DB) FindTokens(ctx context.Context) ([]*gaffer.Token, error) {
	return db.findTokens(ctx, ``)
}

func (db *DB) findTokens(ctx context.Context, where string, args ...any) ([]*gaffer.Token, error) {
	rctx, cancel := readCtx(ctx)
	defer cancel()
	rows, err := db.rdb.QueryContext(rctx, `SELECT `+tokenColumns+` FROM tokens `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, busy(ctx, fmt.Errorf("query tokens: %w", err))
	}
	defer rows.Close()
	tokens := []*gaffer.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, busy(ctx, fmt.Errorf("query tokens: %w", err))
	}
	return tokens, nil
}

// RevokeToken sets the token's RevokedAt unless already set and deletes
// its sessions, in one transaction, and returns the token.
func (db *DB) RevokeToken(ctx context.Context, id int64, at time.Time) (*gaffer.Token, error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, busy(ctx, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()

	t, err := scanToken(tx.QueryRowContext(ctx, `
		UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?
		RETURNING `+tokenColumns, formatTime(at), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "token %d does not exist", id)
	} else if err != nil {
		return nil, busy(ctx, fmt.Errorf("revoke token %d: %w", id, err))
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_id = ?`, id); err != nil {
		return nil, busy(ctx, fmt.Errorf("delete sessions of token %d: %w", id, err))
	}
	if err := tx.Commit(); err != nil {
		return nil, busy(ctx, fmt.Errorf("commit: %w", err))
	}
	return t, nil
}

// CreateSession stores s. A zero CreatedAt becomes the current time;
// CreatedAt is written back to s in UTC, as stored.
func (db *DB) CreateSession(ctx context.Context, s *gaffer.Session) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = db.now()
	}
	s.CreatedAt = s.CreatedAt.UTC()
	_, err := db.db.ExecContext(ctx, `
		INSERT INTO sessions (hash, token_id, name, role, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		s.Hash, s.TokenID, s.Name, string(s.Role), formatTime(s.CreatedAt), formatTime(s.ExpiresAt))
	if isUnique(err) {
		return gaffer.Errorf(gaffer.ECONFLICT, "a session with this id already exists")
	} else if err != nil {
		return busy(ctx, fmt.Errorf("insert session of %q: %w", s.Name, err))
	}
	return nil
}

// FindSession returns the session whose cookie hashes to hash, expired ones
// included; ENOTFOUND if none.
func (db *DB) FindSession(ctx context.Context, hash string) (*gaffer.Session, error) {
	rctx, cancel := readCtx(ctx)
	defer cancel()
	var s gaffer.Session
	var role, createdAt, expiresAt string
	err := db.rdb.QueryRowContext(rctx, `
		SELECT hash, token_id, name, role, created_at, expires_at FROM sessions WHERE hash = ?`, hash).
		Scan(&s.Hash, &s.TokenID, &s.Name, &role, &createdAt, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no such session")
	} else if err != nil {
		return nil, busy(ctx, fmt.Errorf("find session: %w", err))
	}
	s.Role = gaffer.Role(role)
	if s.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	} else if s.ExpiresAt, err = parseTime(expiresAt); err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteSession deletes one session; none is not an error.
func (db *DB) DeleteSession(ctx context.Context, hash string) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return busy(ctx, fmt.Errorf("delete session: %w", err))
	}
	return nil
}

// DeleteSessions deletes every session (tokenID < 0) or those of tokenID,
// and those expired at now (a zero now: none for expiring), and returns how
// many it deleted.
func (db *DB) DeleteSessions(ctx context.Context, tokenID int64, now time.Time) (int, error) {
	expired := "" // fixed-width times compare as text; "" is before them all
	if !now.IsZero() {
		expired = formatTime(now)
	}
	res, err := db.db.ExecContext(ctx, `
		DELETE FROM sessions WHERE ? < 0 OR token_id = ? OR expires_at <= ?`, tokenID, tokenID, expired)
	if err != nil {
		return 0, busy(ctx, fmt.Errorf("delete sessions: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	return int(n), nil
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scanToken reads the tokenColumns of one row.
func scanToken(row rowScanner) (*gaffer.Token, error) {
	var t gaffer.Token
	var role, createdAt string
	var expiresAt, revokedAt sql.NullString
	if err := row.Scan(&t.ID, &t.Name, &role, &t.Hash, &t.CreatedBy, &createdAt, &expiresAt, &revokedAt); err != nil {
		return nil, err
	}
	t.Role = gaffer.Role(role)
	var err error
	if t.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	} else if t.ExpiresAt, err = parseTimePtr(expiresAt); err != nil {
		return nil, err
	} else if t.RevokedAt, err = parseTimePtr(revokedAt); err != nil {
		return nil, err
	}
	return &t, nil
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY constraint
// failure.
func isUnique(err error) bool {
	var se *sqlite.Error
	// SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE.
	return errors.As(err, &se) && (se.Code() == 1555 || se.Code() == 2067)
}
