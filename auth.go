package gaffer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Role says what a credential may do; each role includes those before it.
type Role string

const (
	RoleViewer   Role = "viewer"   // read jobs and logs
	RoleOperator Role = "operator" // also start and cancel jobs
	RoleAdmin    Role = "admin"    // also manage hosts, host keys and tokens
)

var roleRank = map[Role]int{RoleViewer: 1, RoleOperator: 2, RoleAdmin: 3}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// Allows reports whether r includes the rights of need.
func (r Role) Allows(need Role) bool { return r.Valid() && roleRank[r] >= roleRank[need] }

// HashSecret is how token secrets and session ids are kept: the hex SHA-256
// of the secret, never the secret. Secrets are 32 random bytes, so a plain
// hash (no salt, no stretching) is as strong as the secret itself.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Token is a named API token with a role. Its secret is shown once, when it
// is created, and only its hash is stored.
type Token struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Hash      string     `json:"-"` // HashSecret of the secret
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"` // nil: never
	RevokedAt *time.Time `json:"revoked_at"` // nil: not revoked
}

// Active reports whether the token may be used at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// AdminTokenID is the TokenID of sessions made with the server's admin token
// (kept as a setting, not a Token row).
const AdminTokenID = 0

// Session is a browser's login, kept on the server so it can be revoked.
// The cookie holds a random id; the store holds its hash.
type Session struct {
	Hash      string // HashSecret of the cookie's value
	TokenID   int64  // the token it logged in with; AdminTokenID for the admin token
	Name      string // the token's name: who the session acts as
	Role      Role
	CreatedAt time.Time
	ExpiresAt time.Time // never later than the token's own expiry
}

// AuthStore keeps tokens and sessions (SQLite, PostgreSQL): every instance
// sharing a store sees a revocation at its next request.
type AuthStore interface {
	// CreateToken assigns t.ID and stores t. ECONFLICT if an active token
	// (not revoked, not expired at t.CreatedAt) already has t.Name.
	CreateToken(ctx context.Context, t *Token) error
	// FindToken returns the token with id, revoked or not; ENOTFOUND if none.
	FindToken(ctx context.Context, id int64) (*Token, error)
	// FindTokenByHash returns the token whose secret hashes to hash, revoked
	// or expired ones included (the caller checks Active); ENOTFOUND if none.
	FindTokenByHash(ctx context.Context, hash string) (*Token, error)
	// FindTokens lists every token, revoked ones included, by id.
	FindTokens(ctx context.Context) ([]*Token, error)
	// RevokeToken sets the token's RevokedAt (once: revoking again keeps the
	// first time) and deletes its sessions, in one transaction; it returns
	// the token. ENOTFOUND if there is no such token.
	RevokeToken(ctx context.Context, id int64, at time.Time) (*Token, error)

	// CreateSession stores s.
	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns the session whose cookie hashes to hash, expired
	// ones included (the caller checks ExpiresAt); ENOTFOUND if none.
	FindSession(ctx context.Context, hash string) (*Session, error)
	// DeleteSession deletes one session (logout); none is not an error.
	DeleteSession(ctx context.Context, hash string) error
	// DeleteSessions deletes every session, or only those of tokenID when
	// tokenID >= 0 (AdminTokenID: the admin token's), and those no longer
	// valid at now (ExpiresAt not after it; a zero now: none) either way;
	// it returns how many it deleted.
	DeleteSessions(ctx context.Context, tokenID int64, now time.Time) (int, error)
}

// AllSessions is the tokenID that DeleteSessions reads as "every session".
const AllSessions = -1

// Validate checks what every store requires of a token.
func (t *Token) Validate() error {
	switch {
	case t.Name == "":
		return Errorf(EINVALID, "token name required")
	case !t.Role.Valid():
		return Errorf(EINVALID, "role %q is not valid; use viewer, operator or admin", t.Role)
	case t.Hash == "":
		return Errorf(EINVALID, "token hash required")
	}
	return nil
}

// Validate checks what every store requires of a session.
func (s *Session) Validate() error {
	switch {
	case s.Hash == "":
		return Errorf(EINVALID, "session hash required")
	case !s.Role.Valid():
		return Errorf(EINVALID, "role %q is not valid; use viewer, operator or admin", s.Role)
	case s.ExpiresAt.IsZero():
		return Errorf(EINVALID, "session expiry required")
	}
	return nil
}

// TokenNameTaken is the ECONFLICT of CreateToken: the active token id has name.
func TokenNameTaken(name string, id int64) error {
	return Errorf(ECONFLICT, "a token named %q already exists (id %d); revoke it first or pick another name", name, id)
}
