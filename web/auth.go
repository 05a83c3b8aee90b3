package web

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Role is the domain's role (gaffer.Role), named here for the router's table.
type Role = gaffer.Role

const (
	RoleViewer   = gaffer.RoleViewer
	RoleOperator = gaffer.RoleOperator
	RoleAdmin    = gaffer.RoleAdmin
)

// User is who made a request.
type User struct {
	Name    string
	Role    Role
	TokenID int64 // the token it authenticated with; gaffer.AdminTokenID for the admin token
	// cred is how it authenticated, so a log stream can check it again.
	cred credential
}

// credential is a request's credential, by hash: a token (Bearer) or a
// session (cookie). Never the secret itself.
type credential struct {
	session bool
	hash    string
}

type userKey struct{}

func withUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the authenticated user of a request's context.
func UserFrom(ctx context.Context) User {
	u, _ := ctx.Value(userKey{}).(User)
	return u
}

// CookieName is the session cookie the login page sets.
const CookieName = "gaffer_session"

// AdminName is the admin token's name: reserved, no named token may take it.
const AdminName = "admin"

// Auth checks credentials: the admin token (kept only as its hash,
// gaffer.HashSecret, like every other token), the
// named tokens of Store (by hash) as Bearer tokens, or a session cookie whose
// id's hash Store keeps. Every check reads Store, so a revocation on any
// instance sharing it takes effect at the next request.
type Auth struct {
	AdminTokenHash string // gaffer.HashSecret of the admin token
	Store          gaffer.AuthStore
	SessionTTL     time.Duration // default 30 days
	Now            func() time.Time
}

// DefaultSessionTTL is how long a browser session lasts at most.
const DefaultSessionTTL = 30 * 24 * time.Hour

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// errBadCredential is every refusal of a credential: one message whatever
// the reason (unknown, revoked, expired), so a guesser learns nothing.
var errBadCredential = gaffer.Errorf(gaffer.EUNAUTHORIZED, "missing or invalid credential: send Authorization: Bearer <token>, or log in with the link the server printed")

// CheckToken returns the user of a token secret: the admin token or an
// active named token. It also returns when the token expires (nil: never).
// EUNAUTHORIZED when the token is unknown, revoked or expired; a failure
// of the store is returned as it is.
func (a *Auth) CheckToken(ctx context.Context, token string) (User, *time.Time, error) {
	if token == "" {
		return User{}, nil, errBadCredential
	}
	cred := credential{hash: gaffer.HashSecret(token)}
	if a.AdminTokenHash != "" && subtle.ConstantTimeCompare([]byte(cred.hash), []byte(a.AdminTokenHash)) == 1 {
		return User{Name: AdminName, Role: RoleAdmin, TokenID: gaffer.AdminTokenID, cred: cred}, nil, nil
	}
	if a.Store == nil {
		return User{}, nil, errBadCredential
	}
	t, err := a.Store.FindTokenByHash(ctx, cred.hash)
	if gaffer.ErrorCode(err) == gaffer.ENOTFOUND {
		return User{}, nil, errBadCredential
	} else if err != nil {
		return User{}, nil, fmt.Errorf("find token: %w", err)
	}
	if !t.Active(a.now()) || !t.Role.Valid() {
		return User{}, nil, errBadCredential
	}
	return User{Name: t.Name, Role: t.Role, TokenID: t.ID, cred: cred}, t.ExpiresAt, nil
}

// checkSession returns the user of a session cookie's value.
func (a *Auth) checkSession(ctx context.Context, v string) (User, error) {
	if v == "" || a.Store == nil {
		return User{}, errBadCredential
	}
	hash := gaffer.HashSecret(v)
	sess, err := a.checkSessionHash(ctx, hash)
	if err != nil {
		return User{}, err
	}
	return User{Name: sess.Name, Role: sess.Role, TokenID: sess.TokenID, cred: credential{session: true, hash: hash}}, nil
}

// Authenticate finds a valid credential on the request: a Bearer token,
// else the session cookie. EUNAUTHORIZED when there is none or it is not
// valid; other errors are the store's.
func (a *Auth) Authenticate(r *http.Request) (User, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return User{}, errBadCredential
		}
		u, _, err := a.CheckToken(r.Context(), strings.TrimSpace(token))
		return u, err
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return a.checkSession(r.Context(), c.Value)
	}
	return User{}, errBadCredential
}

// Recheck checks u's credential again (a long log stream does, now and
// then): EUNAUTHORIZED once it was revoked, expired or logged out.
func (a *Auth) Recheck(ctx context.Context, u User) error {
	if u.cred.session {
		sess, err := a.checkSessionHash(ctx, u.cred.hash)
		if err == nil && sess.TokenID != u.TokenID {
			err = errBadCredential
		}
		return err
	}
	if u.TokenID == gaffer.AdminTokenID {
		return nil // the admin token is this process's setting: it cannot change under it
	}
	if a.Store == nil {
		return errBadCredential
	}
	t, err := a.Store.FindTokenByHash(ctx, u.cred.hash)
	if gaffer.ErrorCode(err) == gaffer.ENOTFOUND {
		return errBadCredential
	} else if err != nil {
		return fmt.Errorf("find token: %w", err)
	}
	if !t.Active(a.now()) {
		return errBadCredential
	}
	return nil
}

func (a *Auth) checkSessionHash(ctx context.Context, hash string) (*gaffer.Session, error) {
	if a.Store == nil {
		return nil, errBadCredential
	}
	sess, err := a.Store.FindSession(ctx, hash)
	if gaffer.ErrorCode(err) == gaffer.ENOTFOUND {
		return nil, errBadCredential
	} else if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	if !a.now().Before(sess.ExpiresAt) || !sess.Role.Valid() {
		a.Store.DeleteSession(ctx, hash) // expired: no use keeping it
		return nil, errBadCredential
	}
	return sess, nil
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
