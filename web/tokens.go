package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gaffer-dev/gaffer"
)

// Named API tokens (admin only): created with a role and an optional
// expiry, the secret shown once in the answer, listed without it, revoked
// at once — with the token's sessions and open log streams.

// TokenPrefix starts every token secret, so a leaked one is recognisable
// (secret scanners, logs).
const TokenPrefix = "gft_"

// MaxTokenName is the longest token name, in characters.
const MaxTokenName = 64

// maxExpiresDays bounds expires_in (100 years), far from time.Duration's
// overflow.
const maxExpiresDays = 36500

// tokenRequest is the body of POST /api/tokens.
type tokenRequest struct {
	Name      string `json:"name"`
	Role      Role   `json:"role"`
	ExpiresIn string `json:"expires_in"`
}

// createdToken is the answer of POST /api/tokens: the token with its secret.
type createdToken struct {
	*gaffer.Token
	Secret string `json:"token"`
}

// ValidTokenName checks a token name: 1 to 64 printable characters, no
// control characters, no space at either end, not "admin".
func ValidTokenName(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case name == "":
		return gaffer.Errorf(gaffer.EINVALID, "name is required: who or what the token is for, e.g. \"alice\" or \"deploy-bot\"")
	case !utf8.ValidString(name):
		return gaffer.Errorf(gaffer.EINVALID, "name is not valid UTF-8")
	case n > MaxTokenName:
		return gaffer.Errorf(gaffer.EINVALID, "name is %d characters long; the limit is %d", n, MaxTokenName)
	case strings.EqualFold(name, AdminName):
		return gaffer.Errorf(gaffer.EINVALID, "name %q is reserved for the server's admin token; choose another", name)
	case strings.TrimSpace(name) != name:
		return gaffer.Errorf(gaffer.EINVALID, "name must not start or end with a space")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return gaffer.Errorf(gaffer.EINVALID, "name holds a control or invisible character (%U); use printable characters only", r)
		}
	}
	return nil
}

// ParseExpiresIn reads expires_in: whole days ("30d") or a Go duration
// ("720h", "90m"), above zero and at most 100 years.
func ParseExpiresIn(s string) (time.Duration, error) {
	bad := gaffer.Errorf(gaffer.EINVALID, "expires_in %q: give whole days (30d) or a duration (720h, 90m)", s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if n == "" || n[0] < '0' || n[0] > '9' {
			return 0, bad
		}
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, bad
		}
		if err != nil || days > maxExpiresDays {
			return 0, gaffer.Errorf(gaffer.EINVALID, "expires_in %q: give whole days up to %dd", s, maxExpiresDays)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 {
		return 0, gaffer.Errorf(gaffer.EINVALID, "expires_in %q: give a time above zero, e.g. 30d (leave it out for a token that does not expire)", s)
	}
	if d > maxExpiresDays*24*time.Hour {
		return 0, gaffer.Errorf(gaffer.EINVALID, "expires_in %q: give at most %dd", s, maxExpiresDays)
	}
	return d, nil
}

// tokenTarget names a token in the audit trail: "token 3 (alice)".
func tokenTarget(id int64, name string) string {
	if id == gaffer.AdminTokenID {
		return "admin token"
	}
	return fmt.Sprintf("token %d (%s)", id, name)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if err := ValidTokenName(req.Name); err != nil {
		s.error(w, r, err)
		return
	}
	if req.Role == "" {
		s.error(w, r, gaffer.Errorf(gaffer.EINVALID, "role is required: viewer, operator or admin"))
		return
	}
	if !req.Role.Valid() {
		s.error(w, r, gaffer.Errorf(gaffer.EINVALID, "role %q is not one of viewer, operator, admin", req.Role))
		return
	}
	now := s.Auth.now().UTC().Truncate(time.Second)
	t := &gaffer.Token{Name: req.Name, Role: req.Role, CreatedBy: UserFrom(r.Context()).Name, CreatedAt: now}
	if req.ExpiresIn != "" {
		d, err := ParseExpiresIn(req.ExpiresIn)
		if err != nil {
			s.error(w, r, err)
			return
		}
		exp := now.Add(d)
		t.ExpiresAt = &exp
	}
	if s.Auth.Store == nil {
		s.error(w, r, gaffer.Errorf(gaffer.EUNAVAILABLE, "this server keeps no tokens"))
		return
	}
	secret := TokenPrefix + randomSecret()
	t.Hash = gaffer.HashSecret(secret)
	if err := s.Auth.Store.CreateToken(r.Context(), t); err != nil {
		if gaffer.ErrorCode(err) == gaffer.ECONFLICT {
			err = gaffer.Errorf(gaffer.ECONFLICT, "an active token is already named %q; revoke it first (gaffer tokens revoke ID) or choose another name", t.Name)
		}
		s.error(w, r, err)
		return
	}
	s.audit(r, gaffer.AuditTokenCreate, tokenTarget(t.ID, t.Name), map[string]any{"role": t.Role, "expires_at": t.ExpiresAt})
	w.Header().Set("Location", "/api/tokens/"+strconv.FormatInt(t.ID, 10))
	writeJSON(w, http.StatusCreated, createdToken{Token: t, Secret: secret})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	if s.Auth.Store == nil {
		writeJSON(w, http.StatusOK, []*gaffer.Token{})
		return
	}
	list, err := s.Auth.Store.FindTokens(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	if list == nil {
		list = []*gaffer.Token{}
	}
	writeJSON(w, http.StatusOK, list)
}

// revokeToken revokes a token: its requests get 401 from now on, its
// sessions are deleted, and its open log streams here end at once (on
// other instances at their next check, Server.StreamCheck).
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		s.error(w, r, gaffer.Errorf(gaffer.EINVALID, "%q is not a token id (a positive whole number; gaffer tokens list shows them)", v))
		return
	}
	if s.Auth.Store == nil {
		s.error(w, r, gaffer.Errorf(gaffer.ENOTFOUND, "there is no token %d", id))
		return
	}
	t, err := s.Auth.Store.RevokeToken(r.Context(), id, s.Auth.now().UTC())
	if gaffer.ErrorCode(err) == gaffer.ENOTFOUND {
		err = gaffer.Errorf(gaffer.ENOTFOUND, "there is no token %d", id)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.endStreams(id)
	s.audit(r, gaffer.AuditTokenRevoke, tokenTarget(t.ID, t.Name), nil)
	writeJSON(w, http.StatusOK, t)
}
