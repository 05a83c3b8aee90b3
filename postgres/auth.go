package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Ensure DB implements the interface.
var _ gaffer.AuthStore = (*DB)(nil)

// tokenNameLock serializes CreateToken across instances, so that two
// cannot both find a name free and both take it. Tokens are created
// rarely: one lock for all names is enough.
const tokenNameLock int64 = 0x6761666665720003

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
	createdAt, err := nanos(t.CreatedAt)
	if err != nil {
		return err
	}
	expiresAt, err := nanosPtr(t.ExpiresAt)
	if err != nil {
		return err
	}
	revokedAt, err := nanosPtr(t.RevokedAt)
	if err != nil {
		return err
	}

	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, tokenNameLock); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	// Taken after the lock, this statement's snapshot has every token
	// created before.
	var id int64
	err = tx.QueryRow(ctx, `
		SELECT id FROM tokens
		WHERE name = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY id LIMIT 1`, t.Name, createdAt).Scan(&id)
	if err == nil {
		return gaffer.TokenNameTaken(t.Name, id)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("find token %q: %w", t.Name, err)
	}
	err = tx.QueryRow(ctx, `
		INSERT INTO tokens (name, role, hash, created_by, created_at, expires_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING id`,
		t.Name, string(t.Role), t.Hash, t.CreatedBy, createdAt, expiresAt, revokedAt).Scan(&id)
	if isUnique(err) {
		return gaffer.Errorf(gaffer.ECONFLICT, "another token already has this secret")
	} else if err != nil {
		return fmt.Errorf("insert token %q: %w", t.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	t.ID = id
	return nil
}

// FindToken returns the token with id, revoked or not; ENOTFOUND if none.
func (db *DB) FindToken(ctx context.Context, id int64) (*gaffer.Token, error) {
	tokens, err := db.findTokens(ctx, `WHERE id = $1`, id)
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
	tokens, err := db.findTokens(ctx, `WHERE hash = $1`, hash)
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
	rows, err := db.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("query tokens: %w", err)
	}
	tokens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*gaffer.Token, error) { return scanToken(row) })
	if err != nil {
		return nil, fmt.Errorf("query tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken sets the token's RevokedAt unless already set and deletes
// its sessions, in one statement, and returns the token.
func (db *DB) RevokeToken(ctx context.Context, id int64, at time.Time) (*gaffer.Token, error) {
	when, err := nanos(at)
	if err != nil {
		return nil, err
	}
	t, err := scanToken(db.pool.QueryRow(ctx, `
		WITH revoked AS (
			UPDATE tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1
			RETURNING `+tokenColumns+`
		), gone AS (
			DELETE FROM sessions WHERE token_id IN (SELECT id FROM revoked)
		)
		SELECT `+tokenColumns+` FROM revoked`, id, when))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "token %d does not exist", id)
	} else if err != nil {
		return nil, fmt.Errorf("revoke token %d: %w", id, err)
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
	createdAt, err := nanos(s.CreatedAt)
	if err != nil {
		return err
	}
	expiresAt, err := nanos(s.ExpiresAt)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `
		INSERT INTO sessions (hash, token_id, name, role, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		s.Hash, s.TokenID, s.Name, string(s.Role), createdAt, expiresAt)
	if isUnique(err) {
		return gaffer.Errorf(gaffer.ECONFLICT, "a session with this id already exists")
	} else if err != nil {
		return fmt.Errorf("insert session of %q: %w", s.Name, err)
	}
	return nil
}

// FindSession returns the session whose cookie hashes to hash, expired ones
// included; ENOTFOUND if none.
func (db *DB) FindSession(ctx context.Context, hash string) (*gaffer.Session, error) {
	var s gaffer.Session
	var role string
	var createdAt, expiresAt int64
	err := db.pool.QueryRow(ctx, `
		SELECT hash, token_id, name, role, created_at, expires_at FROM sessions WHERE hash = $1`, hash).
		Scan(&s.Hash, &s.TokenID, &s.Name, &role, &createdAt, &expiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no such session")
	} else if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	s.Role = gaffer.Role(role)
	s.CreatedAt, s.ExpiresAt = fromNanos(createdAt), fromNanos(expiresAt)
	return &s, nil
}

// DeleteSession deletes one session; none is not an error.
func (db *DB) DeleteSession(ctx context.Context, hash string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessions deletes every session (tokenID < 0) or those of tokenID,
// and those expired at now (a zero now: none for expiring), and returns how
// many it deleted.
func (db *DB) DeleteSessions(ctx context.Context, tokenID int64, now time.Time) (int, error) {
	var expired *int64 // NULL compares to nothing
	if !now.IsZero() {
		n, err := nanos(now)
		if err != nil {
			return 0, err
		}
		expired = &n
	}
	tag, err := db.pool.Exec(ctx, `
		DELETE FROM sessions WHERE $1::bigint < 0 OR token_id = $1 OR expires_at <= $2`, tokenID, expired)
	if err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// scanToken reads the tokenColumns of one row.
func scanToken(row pgx.Row) (*gaffer.Token, error) {
	var t gaffer.Token
	var role string
	var createdAt int64
	var expiresAt, revokedAt *int64
	if err := row.Scan(&t.ID, &t.Name, &role, &t.Hash, &t.CreatedBy, &createdAt, &expiresAt, &revokedAt); err != nil {
		return nil, err
	}
	t.Role = gaffer.Role(role)
	t.CreatedAt = fromNanos(createdAt)
	t.ExpiresAt, t.RevokedAt = fromNanosPtr(expiresAt), fromNanosPtr(revokedAt)
	return &t, nil
}

// isUnique reports whether err is a unique_violation.
func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
