package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/memstore"
	"github.com/gaffer-dev/gaffer/web"
)

// tokenServer is a web server over jobs with an in-memory auth store.
type tokenServer struct {
	*web.Server
	auth  *web.Auth
	store *memstore.Store
	addrs int
}

func newTokenServer(t *testing.T, jobs web.JobService) *tokenServer {
	t.Helper()
	auth := newAuth(token)
	s, err := web.New(jobs, auth, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Limiter = nil // these tests make many failed attempts on purpose
	return &tokenServer{Server: s, auth: auth, store: auth.Store.(*memstore.Store)}
}

// do serves one request: bearer is a token ("" for none), cookie a
// session cookie's value ("" for none).
func (ts *tokenServer) do(method, path, body, bearer, cookie string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: cookie})
	}
	ts.addrs++
	req.RemoteAddr = fmt.Sprintf("10.1.%d.%d:1234", ts.addrs/256%256, ts.addrs%256)
	rec := httptest.NewRecorder()
	ts.ServeHTTP(rec, req)
	return rec
}

type created struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Token     string     `json:"token"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// create makes a token with the admin token and returns the answer.
func (ts *tokenServer) create(t *testing.T, name, role, expiresIn string) created {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "role": role, "expires_in": expiresIn})
	rec := ts.do("POST", "/api/tokens", string(body), token, "")
	if rec.Code != http.StatusCreated {
		t.Fatalf("create token %q: %d %s", name, rec.Code, rec.Body)
	}
	var c created
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// login logs in with a token on the login page and returns the session
// cookie.
func (ts *tokenServer) login(t *testing.T, secret string) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	ts.ServeHTTP(rec, httptest.NewRequest("GET", "/login?token="+secret+"&next=/jobs/1", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/jobs/1" {
		t.Fatalf("login: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == web.CookieName {
			return c
		}
	}
	t.Fatalf("login set no session cookie: %v", rec.Header())
	return nil
}

func (ts *tokenServer) revoke(t *testing.T, id int64) {
	t.Helper()
	if rec := ts.do("DELETE", fmt.Sprintf("/api/tokens/%d", id), "", token, ""); rec.Code != http.StatusOK {
		t.Fatalf("revoke %d: %d %s", id, rec.Code, rec.Body)
	}
}

// A token is shown once (gft_ and 32 random bytes), stored as its hash,
// listed without secret or hash, and works with its own role.
func TestTokenCreateListUse(t *testing.T) {
	ts := newTokenServer(t, stubJobs{})
	c := ts.create(t, "alice", "viewer", "30d")
	if !strings.HasPrefix(c.Token, web.TokenPrefix) || len(c.Token) != len(web.TokenPrefix)+43 {
		t.Fatalf("token %q: want gft_ and 43 base64url characters", c.Token)
	}
	if c.ID == 0 || c.Name != "alice" || c.Role != "viewer" || c.CreatedBy != "admin" || c.ExpiresAt == nil {
		t.Fatalf("answer: %+v", c)
	}
	if d := time.Until(*c.ExpiresAt); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Fatalf("expires in %s, want 30 days", d)
	}
	stored, err := ts.store.FindToken(context.Background(), c.ID)
	if err != nil || stored.Hash != gaffer.HashSecret(c.Token) {
		t.Fatalf("stored %+v %v: want the secret's hash", stored, err)
	}
	other := ts.create(t, "bob", "operator", "")
	if other.Token == c.Token || other.ExpiresAt != nil {
		t.Fatalf("second token: %+v", other)
	}

	rec := ts.do("GET", "/api/tokens", "", token, "")
	if rec.Code != 200 {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	for _, secret := range []string{c.Token, other.Token, gaffer.HashSecret(c.Token), gaffer.HashSecret(other.Token)} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Fatalf("list shows a secret or hash: %s", rec.Body)
		}
	}
	var list []gaffer.Token
	json.Unmarshal(rec.Body.Bytes(), &list)
	if len(list) != 2 || list[0].Name != "alice" || list[1].Role != gaffer.RoleOperator {
		t.Fatalf("list: %s", rec.Body)
	}

	// The viewer reads but cannot start a job nor manage tokens.
	if rec := ts.do("GET", "/api/jobs", "", c.Token, ""); rec.Code != 200 {
		t.Fatalf("viewer reads: %d", rec.Code)
	}
	if rec := ts.do("POST", "/api/jobs", `{"command":"true","hosts":["local"]}`, c.Token, ""); rec.Code != 403 ||
		!strings.Contains(rec.Body.String(), "needs the operator role") {
		t.Fatalf("viewer starts a job: %d %s", rec.Code, rec.Body)
	}
	if rec := ts.do("GET", "/api/tokens", "", other.Token, ""); rec.Code != 403 {
		t.Fatalf("operator lists tokens: %d", rec.Code)
	}
	// Nothing answered holds a secret but the creation's own answer.
	if rec := ts.do("GET", "/api/tokens", "", token, ""); strings.Contains(rec.Body.String(), web.TokenPrefix) {
		t.Fatalf("list: %s", rec.Body)
	}
}

// recordingJobs remembers who started each job.
type recordingJobs struct {
	stubJobs
	mu sync.Mutex
	by []string
}

func (j *recordingJobs) Start(ctx context.Context, req gaffer.JobRequest, by string) (*gaffer.Job, error) {
	j.mu.Lock()
	j.by = append(j.by, by)
	j.mu.Unlock()
	return j.stubJobs.Start(ctx, req, by)
}

// A job's created_by is the name of the token that started it, over the
// API and from a browser session of that token.
func TestTokenStartsJobAsItsName(t *testing.T) {
	jobs := &recordingJobs{}
	ts := newTokenServer(t, jobs)
	c := ts.create(t, "deploy-bot", "operator", "")
	body := `{"command":"true","hosts":["local"]}`
	if rec := ts.do("POST", "/api/jobs", body, c.Token, ""); rec.Code != 201 {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
	cookie := ts.login(t, c.Token)
	if rec := ts.do("POST", "/api/jobs", body, "", cookie.Value); rec.Code != 201 {
		t.Fatalf("start from the session: %d %s", rec.Code, rec.Body)
	}
	if rec := ts.do("POST", "/api/jobs", body, token, ""); rec.Code != 201 {
		t.Fatalf("start as admin: %d %s", rec.Code, rec.Body)
	}
	if got := strings.Join(jobs.by, ","); got != "deploy-bot,deploy-bot,admin" {
		t.Fatalf("created_by: %s", got)
	}
}

// Bad requests are refused with 400 and a message that says what is wrong.
func TestTokenCreateInvalid(t *testing.T) {
	ts := newTokenServer(t, stubJobs{})
	for _, tc := range []struct{ body, want string }{
		{`{"role":"viewer"}`, "name is required"},
		{`{"name":"","role":"viewer"}`, "name is required"},
		{`{"name":"` + strings.Repeat("x", 65) + `","role":"viewer"}`, "65 characters long; the limit is 64"},
		{`{"name":"a\u0007b","role":"viewer"}`, "control or invisible character"},
		{`{"name":"a\tb","role":"viewer"}`, "control or invisible character"},
		{`{"name":"a\u200bb","role":"viewer"}`, "control or invisible character"},
		{`{"name":" alice","role":"viewer"}`, "start or end with a space"},
		{`{"name":"admin","role":"viewer"}`, "reserved for the server's admin token"},
		{`{"name":"Admin","role":"admin"}`, "reserved"},
		{`{"name":"alice"}`, "role is required"},
		{`{"name":"alice","role":"root"}`, `role "root" is not one of viewer, operator, admin`},
		{`{"name":"alice","role":"Viewer"}`, "is not one of"},
		{`{"name":"alice","role":"viewer","expires_in":"0d"}`, "above zero"},
		{`{"name":"alice","role":"viewer","expires_in":"-1h"}`, "above zero"},
		{`{"name":"alice","role":"viewer","expires_in":"0s"}`, "above zero"},
		{`{"name":"alice","role":"viewer","expires_in":"soon"}`, "give whole days (30d) or a duration"},
		{`{"name":"alice","role":"viewer","expires_in":"1.5d"}`, "give whole days (30d) or a duration"},
		{`{"name":"alice","role":"viewer","expires_in":"d"}`, "give whole days (30d) or a duration"},
		{`{"name":"alice","role":"viewer","expires_in":"+3d"}`, "give whole days (30d) or a duration"},
		{`{"name":"alice","role":"viewer","expires_in":"99999999999d"}`, "up to 36500d"},
		{`{"name":"alice","role":"viewer","expires_in":"900000h"}`, "at most 36500d"},
		{`{"name":"alice","role":"viewer","expires_in":30}`, `field "expires_in" must be string`},
		{`{"name":"alice","role":"viewer","secret":"x"}`, `unknown field "secret"`},
		{``, "the request body is empty"},
		{`{"name":`, "not valid JSON"},
	} {
		rec := ts.do("POST", "/api/tokens", tc.body, token, "")
		if tc.body == "" {
			rec = ts.do("POST", "/api/tokens", " ", token, "")
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 400 || e.Error.Code != gaffer.EINVALID || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("%s: %d %s, want 400 saying %q", tc.body, rec.Code, rec.Body, tc.want)
		}
	}
	if list, _ := ts.store.FindTokens(context.Background()); len(list) != 0 {
		t.Fatalf("a bad request made a token: %+v", list[0])
	}
	// Revoke: a bad id is 400, an unknown one 404.
	if rec := ts.do("DELETE", "/api/tokens/abc", "", token, ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), "not a token id") {
		t.Errorf("revoke abc: %d %s", rec.Code, rec.Body)
	}
	if rec := ts.do("DELETE", "/api/tokens/42", "", token, ""); rec.Code != 404 || !strings.Contains(rec.Body.String(), "no token 42") {
		t.Errorf("revoke 42: %d %s", rec.Code, rec.Body)
	}
}

// Names are unique among active tokens: taken again only once revoked.
func TestTokenNameUnique(t *testing.T) {
	ts := newTokenServer(t, stubJobs{})
	first := ts.create(t, "alice", "viewer", "")
	rec := ts.do("POST", "/api/tokens", `{"name":"alice","role":"admin"}`, token, "")
	if rec.Code != 409 || !strings.Contains(rec.Body.String(), `already named \"alice\"`) {
		t.Fatalf("same name: %d %s", rec.Code, rec.Body)
	}
	ts.revoke(t, first.ID)
	second := ts.create(t, "alice", "admin", "")
	if second.ID == first.ID {
		t.Fatalf("same id")
	}
	// The revoked token stays revoked: its name taken again changes nothing.
	if rec := ts.do("GET", "/api/jobs", "", first.Token, ""); rec.Code != 401 {
		t.Fatalf("revoked token: %d", rec.Code)
	}
}

// Revoking a token ends its requests and its browser sessions at once;
// revoking again keeps the first time; other tokens are untouched.
func TestTokenRevoke(t *testing.T) {
	ts := newTokenServer(t, stubJobs{})
	c := ts.create(t, "alice", "operator", "")
	keep := ts.create(t, "bob", "viewer", "")
	cookie := ts.login(t, c.Token)
	keepCookie := ts.login(t, keep.Token)
	for _, cred := range [][2]string{{c.Token, ""}, {"", cookie.Value}} {
		if rec := ts.do("GET", "/api/jobs", "", cred[0], cred[1]); rec.Code != 200 {
			t.Fatalf("before revoke: %d", rec.Code)
		}
	}
	rec := ts.do("DELETE", fmt.Sprintf("/api/tokens/%d", c.ID), "", token, "")
	var revoked gaffer.Token
	json.Unmarshal(rec.Body.Bytes(), &revoked)
	if rec.Code != 200 || revoked.RevokedAt == nil || revoked.Name != "alice" {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	for _, cred := range [][2]string{{c.Token, ""}, {"", cookie.Value}} {
		if rec := ts.do("GET", "/api/jobs", "", cred[0], cred[1]); rec.Code != 401 {
			t.Fatalf("after revoke: %d %s", rec.Code, rec.Body)
		}
	}
	// Nor can it log in again.
	lr := httptest.NewRecorder()
	ts.ServeHTTP(lr, httptest.NewRequest("GET", "/login?token="+c.Token, nil))
	if lr.Code != 401 || len(lr.Result().Cookies()) != 0 {
		t.Fatalf("login with a revoked token: %d %v", lr.Code, lr.Result().Cookies())
	}
	ts.revoke(t, c.ID)
	again, _ := ts.store.FindToken(context.Background(), c.ID)
	if !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Fatalf("revoked again at %s, first at %s", again.RevokedAt, revoked.RevokedAt)
	}
	for _, cred := range [][2]string{{keep.Token, ""}, {"", keepCookie.Value}} {
		if rec := ts.do("GET", "/api/jobs", "", cred[0], cred[1]); rec.Code != 200 {
			t.Fatalf("other token after revoke: %d", rec.Code)
		}
	}
}

// A session is kept on the server by its hash only; it lasts 30 days or
// until its token expires, whichever is first; logout deletes it; an
// expired session or token is refused.
func TestSessions(t *testing.T) {
	ts := newTokenServer(t, stubJobs{})
	now := time.Now()
	var mu sync.Mutex
	ts.auth.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	short := ts.create(t, "temp", "viewer", "2h")
	cookie := ts.login(t, short.Token)
	if _, err := ts.store.FindSession(context.Background(), cookie.Value); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("the cookie's value %q is stored (%v): want its hash only", cookie.Value, err)
	}
	sess, err := ts.store.FindSession(context.Background(), gaffer.HashSecret(cookie.Value))
	if err != nil {
		t.Fatalf("no session stored by the cookie's hash: %v", err)
	}
	if sess.TokenID != short.ID || sess.Name != "temp" || sess.Role != gaffer.RoleViewer || !sess.ExpiresAt.Equal(short.ExpiresAt.UTC()) {
		t.Fatalf("session %+v: want token %d's, ending at its expiry %s", sess, short.ID, short.ExpiresAt)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v", cookie)
	}
	if d := cookie.Expires.Sub(now); d > 2*time.Hour || d < time.Hour {
		t.Fatalf("cookie expires in %s: want the token's 2h", d)
	}
	long := ts.create(t, "long", "viewer", "")
	longCookie := ts.login(t, long.Token)
	if d := longCookie.Expires.Sub(now); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Fatalf("cookie expires in %s: want 30 days", d)
	}
	adminCookie := ts.login(t, token)

	advance(3 * time.Hour)
	if rec := ts.do("GET", "/api/jobs", "", "", cookie.Value); rec.Code != 401 {
		t.Fatalf("session past its token's expiry: %d", rec.Code)
	}
	if rec := ts.do("GET", "/api/jobs", "", short.Token, ""); rec.Code != 401 {
		t.Fatalf("expired token: %d", rec.Code)
	}
	if rec := ts.do("GET", "/api/jobs", "", "", longCookie.Value); rec.Code != 200 {
		t.Fatalf("30-day session after 3 h: %d", rec.Code)
	}

	// Logout deletes the session on the server: the cookie, replayed, fails.
	if rec := ts.do("POST", "/logout", "", "", longCookie.Value); rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	if rec := ts.do("GET", "/api/jobs", "", "", longCookie.Value); rec.Code != 401 {
		t.Fatalf("session after logout: %d", rec.Code)
	}

	advance(30 * 24 * time.Hour)
	if rec := ts.do("GET", "/api/jobs", "", "", adminCookie.Value); rec.Code != 401 {
		t.Fatalf("admin session after 30 days: %d", rec.Code)
	}
	if rec := ts.do("GET", "/api/jobs", "", long.Token, ""); rec.Code != 200 {
		t.Fatalf("a token without expiry after 30 days: %d", rec.Code)
	}
}

// openLog opens a job's log stream (SSE, or NDJSON follow) on srv.
func openLog(t *testing.T, srv *httptest.Server, sse bool, bearer, cookie string) *http.Response {
	t.Helper()
	path, accept := "/api/jobs/1/log", "text/event-stream"
	if !sse {
		path, accept = "/api/jobs/1/log?follow=1", "application/x-ndjson"
	}
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("Accept", accept)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("open %s: %s", path, resp.Status)
	}
	return resp
}

// ended waits for a stream to end (its body to reach EOF) and fails the
// test if it does not within a minute.
func ended(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, bufio.NewReader(resp.Body))
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		resp.Body.Close()
		t.Fatalf("%s: still open a minute after its credential was revoked", what)
	}
}

// Revoking a token ends its open log streams (SSE and NDJSON follow, by
// Bearer and by session) at once; other credentials' streams go on.
func TestRevokeEndsStreams(t *testing.T) {
	ts := newTokenServer(t, idleJobs{})
	ts.StreamCheck = time.Hour // this instance ends them itself, not by the periodic check
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close) // after the streams' own cleanups close them
	c := ts.create(t, "alice", "viewer", "")
	keep := ts.create(t, "bob", "viewer", "")
	cookie := ts.login(t, c.Token)
	streams := map[string]*http.Response{
		"sse bearer":     openLog(t, srv, true, c.Token, ""),
		"sse session":    openLog(t, srv, true, "", cookie.Value),
		"ndjson bearer":  openLog(t, srv, false, c.Token, ""),
		"ndjson session": openLog(t, srv, false, "", cookie.Value),
	}
	openLog(t, srv, true, keep.Token, "")
	ts.revoke(t, c.ID)
	for what, resp := range streams {
		ended(t, what, resp)
		resp.Body.Close()
	}
	for deadline := time.Now().Add(time.Minute); ts.OpenStreams() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want bob's only", ts.OpenStreams())
		}
	}
}

// A token revoked on another instance sharing the store (here: in the
// store directly), one that expires, and a session logged out elsewhere
// end their streams at the next periodic check.
func TestStreamsRecheckCredential(t *testing.T) {
	ts := newTokenServer(t, idleJobs{})
	ts.StreamCheck = 20 * time.Millisecond
	var mu sync.Mutex
	now := time.Now()
	ts.auth.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close) // after the streams' own cleanups close them
	revoked := ts.create(t, "alice", "viewer", "")
	expiring := ts.create(t, "temp", "viewer", "1h")
	loggedOut := ts.create(t, "carol", "viewer", "")
	keep := ts.create(t, "bob", "viewer", "")
	cookie := ts.login(t, loggedOut.Token)
	a := openLog(t, srv, true, revoked.Token, "")
	b := openLog(t, srv, false, expiring.Token, "")
	c := openLog(t, srv, true, "", cookie.Value)
	openLog(t, srv, true, keep.Token, "")

	if _, err := ts.store.RevokeToken(context.Background(), revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	ended(t, "stream of a token revoked elsewhere", a)
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	ended(t, "stream of an expired token", b)
	ts.store.DeleteSession(context.Background(), gaffer.HashSecret(cookie.Value))
	ended(t, "stream of a session logged out elsewhere", c)
	if n := ts.OpenStreams(); n != 1 {
		t.Fatalf("%d streams open, want bob's only", n)
	}
}

// Fuzz: expires_in is read or refused, never panics; what is read is
// above zero and at most 100 years; a refusal says what to give.
func FuzzParseExpiresIn(f *testing.F) {
	for _, s := range []string{"30d", "720h", "90m", "0d", "-1h", "d", "1.5d", "+3d", "99999999999d", "1h30m", "36500d", "36501d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := web.ParseExpiresIn(s)
		if err != nil {
			if gaffer.ErrorCode(err) != gaffer.EINVALID || !strings.Contains(gaffer.ErrorMessage(err), "expires_in") {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if d <= 0 || d > 36500*24*time.Hour {
			t.Fatalf("%q read as %s", s, d)
		}
	})
}

// Fuzz: a name accepted is 1 to 64 printable characters, trimmed, not admin.
func FuzzValidTokenName(f *testing.F) {
	for _, s := range []string{"alice", "admin", " a", "a\x00", "日本語", strings.Repeat("é", 64), strings.Repeat("é", 65), "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := web.ValidTokenName(s)
		if err != nil {
			if gaffer.ErrorCode(err) != gaffer.EINVALID {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		n := utf8.RuneCountInString(s)
		if n < 1 || n > 64 || !utf8.ValidString(s) || strings.TrimSpace(s) != s || strings.EqualFold(s, "admin") {
			t.Fatalf("%q accepted", s)
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("%q accepted: control character %U", s, r)
			}
		}
	})
}

// Token creation and revocation, logins and failed logins are in the audit
// trail, by who did them, and never with a secret.
func TestTokenAudit(t *testing.T) {
	ts := newTokenServer(t, stubJobs{})
	trail := &memAudit{}
	ts.Audit = trail
	c := ts.create(t, "alice", "operator", "30d")
	cookie := ts.login(t, c.Token)
	bad := httptest.NewRecorder()
	ts.ServeHTTP(bad, httptest.NewRequest("GET", "/login?token=gft_wrong-guess", nil))
	ts.revoke(t, c.ID)

	var got []string
	for _, e := range trail.events(t) {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s", e.Actor, e.Action, e.Target, e.Detail))
		for _, secret := range []string{c.Token, cookie.Value, "gft_wrong-guess", gaffer.HashSecret(c.Token), gaffer.HashSecret(cookie.Value)} {
			if strings.Contains(fmt.Sprintf("%+v %s", e, e.Detail), secret) {
				t.Fatalf("audit event %+v holds a secret or its hash", e)
			}
		}
	}
	exp, _ := json.Marshal(c.ExpiresAt)
	want := []string{
		fmt.Sprintf(`admin|token.create|token %d (alice)|{"expires_at":%s,"role":"operator"}`, c.ID, exp),
		fmt.Sprintf("alice|login|token %d (alice)|", c.ID),
		"|login.failed||",
		fmt.Sprintf("admin|token.revoke|token %d (alice)|", c.ID),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
