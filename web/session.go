package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Browser sessions are kept on the server (Auth.Store): the cookie holds a
// random id, the store its hash, so logging out, revoking the token and
// --reset-admin-token end a session at once, on every instance.

// randomSecret is 32 random bytes, base64url: a token's secret or a
// session's id.
func randomSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on the systems Go supports
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSession stores a session of u, which logged in with a token that
// expires at tokenExpiry (nil: never), and returns the cookie's value and
// when the session ends: SessionTTL from now, never after the token.
func (a *Auth) NewSession(ctx context.Context, u User, tokenExpiry *time.Time) (string, time.Time, error) {
	if a.Store == nil {
		return "", time.Time{}, gaffer.Errorf(gaffer.EUNAVAILABLE, "this server keeps no sessions; use an API token")
	}
	ttl := a.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	now := a.now()
	exp := now.Add(ttl)
	if tokenExpiry != nil && tokenExpiry.Before(exp) {
		exp = *tokenExpiry
	}
	id := randomSecret()
	sess := &gaffer.Session{Hash: gaffer.HashSecret(id), TokenID: u.TokenID, Name: u.Name, Role: u.Role,
		CreatedAt: now.UTC(), ExpiresAt: exp.UTC()}
	if err := a.Store.CreateSession(ctx, sess); err != nil {
		return "", time.Time{}, fmt.Errorf("create session: %w", err)
	}
	// A revocation between the token's check and the session's creation
	// would miss this session: look again now that it exists. Revoking
	// deletes a token's sessions in the same transaction, so either that
	// deleted this one or this sees the token revoked.
	if u.TokenID != gaffer.AdminTokenID {
		t, err := a.Store.FindToken(ctx, u.TokenID)
		if err != nil || !t.Active(now) {
			a.Store.DeleteSession(ctx, sess.Hash)
			if err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
				return "", time.Time{}, fmt.Errorf("find token: %w", err)
			}
			return "", time.Time{}, errBadCredential
		}
	}
	return id, exp, nil
}

func (s *Server) cookie(r *http.Request, value string, exp time.Time) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.SecureCookies || r.TLS != nil}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = exp
	}
	return c
}

// login checks token and, if it is valid, starts a session and redirects
// to next. It reports false when it answered nothing (the token is not
// valid), so the caller shows the form again.
func (s *Server) login(w http.ResponseWriter, r *http.Request, token, next string) bool {
	u, exp, err := s.Auth.CheckToken(r.Context(), token)
	if err == nil {
		var id string
		var until time.Time
		if id, until, err = s.Auth.NewSession(r.Context(), u, exp); err == nil {
			http.SetCookie(w, s.cookie(r, id, until))
			r = r.WithContext(withUser(r.Context(), u))
			s.audit(r, gaffer.AuditLogin, tokenTarget(u.TokenID, u.Name), nil)
			http.Redirect(w, r, next, http.StatusSeeOther)
			return true
		}
	}
	if gaffer.ErrorCode(err) != gaffer.EUNAUTHORIZED {
		s.error(w, r, err)
		return true
	}
	s.failed(r)
	// The token typed is never recorded: it may be a real one mistyped.
	s.audit(r, gaffer.AuditLoginFailed, "", nil)
	return false
}

// loginPage accepts the printed login link (?token=) or shows the form.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if token := r.URL.Query().Get("token"); token != "" {
		if s.limited(w, r) {
			return
		}
		if s.login(w, r, token, next) {
			return
		}
		s.render(w, http.StatusUnauthorized, "login", map[string]any{"Next": next, "Error": "That login link or token is not valid. Use the link the server printed when it first started, its --admin-token, or a token an admin gave you."})
		return
	}
	s.render(w, http.StatusOK, "login", map[string]any{"Next": next})
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.render(w, http.StatusBadRequest, "login", map[string]any{"Error": "The form could not be read."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if s.limited(w, r) {
		return
	}
	if s.login(w, r, strings.TrimSpace(r.PostForm.Get("token")), next) {
		return
	}
	s.render(w, http.StatusUnauthorized, "login", map[string]any{"Next": next, "Error": "That token is not valid (or was revoked, or has expired)."})
}

// logout ends the session on the server, not only in this browser.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" && s.Auth.Store != nil {
		if err := s.Auth.Store.DeleteSession(r.Context(), gaffer.HashSecret(c.Value)); err != nil {
			s.error(w, r, fmt.Errorf("delete session: %w", err))
			return
		}
	}
	http.SetCookie(w, s.cookie(r, "", time.Time{}))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
