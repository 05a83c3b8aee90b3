package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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
	Name string
	Role Role
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

// Auth checks credentials: the admin token (kept only as its SHA-256) as a
// Bearer token, or a session cookie signed with Secret.
type Auth struct {
	AdminTokenHash [32]byte
	Secret         []byte
	SessionTTL     time.Duration // default 30 days
	Now            func() time.Time
}

// HashToken is how tokens are kept: never in clear.
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// CheckToken reports whether token is the admin token.
func (a *Auth) CheckToken(token string) (User, bool) {
	if token == "" {
		return User{}, false
	}
	h := HashToken(token)
	if subtle.ConstantTimeCompare(h[:], a.AdminTokenHash[:]) == 1 {
		return User{Name: "admin", Role: RoleAdmin}, true
	}
	return User{}, false
}

// Authenticate finds a valid credential on the request.
func (a *Auth) Authenticate(r *http.Request) (User, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return User{}, false
		}
		return a.CheckToken(strings.TrimSpace(token))
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return a.checkSession(c.Value)
	}
	return User{}, false
}

// session value: expiry.name.role.signature (base64url HMAC-SHA256 of the rest).
func (a *Auth) sign(payload string) string {
	m := hmac.New(sha256.New, a.Secret)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *Auth) newSession(u User) (string, time.Time) {
	ttl := a.SessionTTL
	if ttl <= 0 {
		ttl = 30 * 24 * time.Hour
	}
	exp := a.now().Add(ttl)
	payload := fmt.Sprintf("%d.%s.%s", exp.Unix(), url.PathEscape(u.Name), u.Role)
	return payload + "." + a.sign(payload), exp
}

func (a *Auth) checkSession(v string) (User, bool) {
	i := strings.LastIndexByte(v, '.')
	if i < 0 || len(a.Secret) == 0 {
		return User{}, false
	}
	payload, sig := v[:i], v[i+1:]
	if !hmac.Equal([]byte(sig), []byte(a.sign(payload))) {
		return User{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 {
		return User{}, false
	}
	exp, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || a.now().Unix() > exp {
		return User{}, false
	}
	name, err := url.PathUnescape(parts[1])
	if err != nil {
		return User{}, false
	}
	role := Role(parts[2])
	if !role.Valid() {
		return User{}, false
	}
	return User{Name: name, Role: role}, true
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, u User) {
	v, exp := s.Auth.newSession(u)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: v, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.SecureCookies || r.TLS != nil})
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// loginPage accepts the printed login link (?token=) or shows the form.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if token := r.URL.Query().Get("token"); token != "" {
		if s.limited(w, r) {
			return
		}
		if u, ok := s.Auth.CheckToken(token); ok {
			s.setSession(w, r, u)
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		s.failed(r)
		s.render(w, http.StatusUnauthorized, "login", map[string]any{"Next": next, "Error": "That login link or token is not valid. Use the link the server printed when it first started, or its --admin-token."})
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
	u, ok := s.Auth.CheckToken(strings.TrimSpace(r.PostForm.Get("token")))
	if !ok {
		s.failed(r)
		s.render(w, http.StatusUnauthorized, "login", map[string]any{"Next": next, "Error": "That token is not valid."})
		return
	}
	s.setSession(w, r, u)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.SecureCookies || r.TLS != nil})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
