package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/web"
)

// matrixCred is one kind of credential of the role matrix. make returns a
// fresh one for each request (a request may log its session out), as a
// Bearer token or a session cookie's value; role is what it may do, "" when
// it must be refused with 401.
type matrixCred struct {
	name string
	role gaffer.Role
	make func(t *testing.T, ts *tokenServer) (bearer, cookie string)
}

// The role matrix: every route of the router's own table × every kind of
// credential gets 401 (no valid credential), 403 (a role below the
// route's), or reaches its handler. Generated from s.Routes(), so a new
// route is in it without being listed here.
func TestRoleMatrix(t *testing.T) {
	ts := newTokenServer(t, stubJobs{})
	n := 0
	named := func(role gaffer.Role) func(t *testing.T, ts *tokenServer) string {
		return func(t *testing.T, ts *tokenServer) string {
			n++
			return ts.create(t, fmt.Sprintf("%s-%d", role, n), string(role), "").Token
		}
	}
	bearer := func(role gaffer.Role) func(t *testing.T, ts *tokenServer) (string, string) {
		return func(t *testing.T, ts *tokenServer) (string, string) { return named(role)(t, ts), "" }
	}
	session := func(role gaffer.Role) func(t *testing.T, ts *tokenServer) (string, string) {
		return func(t *testing.T, ts *tokenServer) (string, string) {
			return "", ts.login(t, named(role)(t, ts)).Value
		}
	}
	creds := []matrixCred{
		{"none", "", func(*testing.T, *tokenServer) (string, string) { return "", "" }},
		{"viewer token", gaffer.RoleViewer, bearer(gaffer.RoleViewer)},
		{"operator token", gaffer.RoleOperator, bearer(gaffer.RoleOperator)},
		{"admin-role token", gaffer.RoleAdmin, bearer(gaffer.RoleAdmin)},
		{"the admin token", gaffer.RoleAdmin, func(*testing.T, *tokenServer) (string, string) { return token, "" }},
		{"viewer session", gaffer.RoleViewer, session(gaffer.RoleViewer)},
		{"operator session", gaffer.RoleOperator, session(gaffer.RoleOperator)},
		{"admin session", gaffer.RoleAdmin, func(t *testing.T, ts *tokenServer) (string, string) {
			return "", ts.login(t, token).Value
		}},
		{"revoked token", "", func(t *testing.T, ts *tokenServer) (string, string) {
			n++
			c := ts.create(t, fmt.Sprintf("revoked-%d", n), "admin", "")
			ts.revoke(t, c.ID)
			return c.Token, ""
		}},
		{"expired token", "", func(t *testing.T, ts *tokenServer) (string, string) {
			n++
			secret := fmt.Sprintf("gft_expired-%d", n)
			past := time.Now().Add(-time.Minute)
			err := ts.store.CreateToken(context.Background(), &gaffer.Token{Name: fmt.Sprintf("expired-%d", n), Role: gaffer.RoleAdmin,
				Hash: gaffer.HashSecret(secret), CreatedAt: past.Add(-time.Hour), ExpiresAt: &past})
			if err != nil {
				t.Fatal(err)
			}
			return secret, ""
		}},
		{"revoked token's session", "", func(t *testing.T, ts *tokenServer) (string, string) {
			n++
			c := ts.create(t, fmt.Sprintf("leaver-%d", n), "admin", "")
			cookie := ts.login(t, c.Token)
			ts.revoke(t, c.ID)
			return "", cookie.Value
		}},
		{"logged-out session", "", func(t *testing.T, ts *tokenServer) (string, string) {
			cookie := ts.login(t, token)
			if rec := ts.do("POST", "/logout", "", "", cookie.Value); rec.Code != http.StatusSeeOther {
				t.Fatalf("logout: %d", rec.Code)
			}
			return "", cookie.Value
		}},
		{"forged session", "", func(*testing.T, *tokenServer) (string, string) { return "", "gft_" + strings.Repeat("A", 43) }},
	}
	routes := 0
	for _, rt := range ts.Routes() {
		if rt.Public {
			continue
		}
		routes++
		// An id nothing has: a route reached answers 404 or its own
		// result, and revoking token 999999 revokes nothing.
		path := strings.NewReplacer("{id}", "999999", "{$}", "").Replace(rt.Pattern)
		body := ""
		if rt.Method == "POST" && strings.HasPrefix(path, "/api/") {
			body = "{}"
		}
		for _, c := range creds {
			b, cookie := c.make(t, ts)
			rec := ts.do(rt.Method, path, body, b, cookie)
			var want string
			switch {
			case c.role == "":
				want = "401"
				if rec.Code != http.StatusUnauthorized {
					t.Errorf("%s %s with %s: %d, want 401", rt.Method, rt.Pattern, c.name, rec.Code)
				}
			case !c.role.Allows(rt.Role):
				want = "403"
				if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "needs the "+string(rt.Role)+" role") {
					t.Errorf("%s %s with %s: %d %s, want 403", rt.Method, rt.Pattern, c.name, rec.Code, rec.Body)
				}
			default:
				want = "allowed"
				if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden || rec.Code == http.StatusMethodNotAllowed {
					t.Errorf("%s %s with %s: %d %s, want its handler's answer", rt.Method, rt.Pattern, c.name, rec.Code, rec.Body)
				}
			}
			if testing.Verbose() {
				t.Logf("%-6s %-28s %-24s %d (%s)", rt.Method, rt.Pattern, c.name, rec.Code, want)
			}
		}
	}
	if routes < 15 {
		t.Fatalf("only %d protected routes in the table", routes)
	}
	// The table's roles: token management is the admin's only.
	for _, rt := range ts.Routes() {
		if strings.HasPrefix(rt.Pattern, "/api/tokens") && rt.Role != web.RoleAdmin {
			t.Errorf("%s %s needs only %s", rt.Method, rt.Pattern, rt.Role)
		}
	}
}
