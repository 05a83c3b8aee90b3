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
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/web"
)

// stubJobs answers with one job (id 1) on host "local".
type stubJobs struct{}

func (stubJobs) Start(ctx context.Context, req gaffer.JobRequest, by string) (*gaffer.Job, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, err := gaffer.ResolveHosts(stubJobs{}.Hosts(), req.Hosts, req.Selector); err != nil {
		return nil, err
	}
	return &gaffer.Job{ID: 1, Command: req.Command, Status: gaffer.StatusQueued}, nil
}
func (stubJobs) Cancel(ctx context.Context, id int64) (*gaffer.Job, error) {
	return stubJobs{}.Job(ctx, id)
}
func (stubJobs) Job(ctx context.Context, id int64) (*gaffer.Job, error) {
	if id != 1 {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "job %d does not exist", id)
	}
	return &gaffer.Job{ID: 1, Command: "true", Status: gaffer.StatusSucceeded, Runs: []*gaffer.Run{{Host: "local", Status: gaffer.StatusSucceeded}}}, nil
}
func (stubJobs) Jobs(ctx context.Context, f gaffer.JobFilter) ([]*gaffer.Job, error) {
	j, _ := stubJobs{}.Job(ctx, 1)
	return []*gaffer.Job{j}, nil
}
func (stubJobs) ReadLog(ctx context.Context, id, after int64, limit int, _ *gaffer.ReadBuffer) ([]gaffer.Record, bool, error) {
	return nil, true, nil
}
func (stubJobs) ReadLogLines(ctx context.Context, id, after int64, limit int, l *gaffer.Lines) (bool, error) {
	l.Reset()
	return true, nil
}
func (stubJobs) WaitLog(ctx context.Context, id, after int64) error { return nil }
func (stubJobs) RawLog(ctx context.Context, id int64, host string, stream gaffer.Stream, w io.Writer) error {
	return nil
}
func (stubJobs) Hosts() []gaffer.Host { return []gaffer.Host{{Name: "local", Local: true}} }
func (stubJobs) QueryLog(ctx context.Context, id int64, r gaffer.LogRange) ([]gaffer.Record, bool, error) {
	return nil, true, nil
}
func (stubJobs) SeqAt(ctx context.Context, id int64, t time.Time) (int64, error) { return 1, nil }
func (stubJobs) LogSummary(ctx context.Context, id int64) (*gaffer.LogSummary, error) {
	return &gaffer.LogSummary{Complete: true, Streams: []gaffer.StreamSummary{}}, nil
}
func (stubJobs) SearchLog(ctx context.Context, id int64, q gaffer.SearchQuery, emit func(*gaffer.Record) error) (gaffer.SearchResult, error) {
	return gaffer.SearchResult{Done: true, ScannedTo: q.After}, nil
}

const token = "s3cret-token"

func newServer(t *testing.T) *web.Server { return newServerF(t) }

// newServerF is newServer for tests and fuzz targets alike.
func newServerF(t testing.TB) *web.Server {
	t.Helper()
	s, err := web.New(stubJobs{}, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every route but the public ones refuses a request without a credential.
// Driven by the router's own table, so a new route cannot forget it.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	s := newServer(t)
	creds := map[string]func(*http.Request){
		"none":         func(*http.Request) {},
		"wrong bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") },
		"basic":        func(r *http.Request) { r.SetBasicAuth("admin", token) },
		"forged cookie": func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: web.CookieName, Value: "9999999999.admin.admin.AAAA"})
		},
	}
	checked, addrs := 0, 0
	for _, rt := range s.Routes() {
		if rt.Public {
			continue
		}
		path := strings.NewReplacer("{id}", "1", "{$}", "").Replace(rt.Pattern)
		for name, set := range creds {
			for _, accept := range []string{"application/json", "text/event-stream"} {
				req := httptest.NewRequest(rt.Method, path, strings.NewReader(`{"command":"true","hosts":["local"]}`))
				req.Header.Set("Accept", accept)
				req.Header.Set("Content-Type", "application/json")
				// Each from its own address: the failed-attempt limit
				// (ratelimit_test.go) would otherwise answer 429.
				addrs++
				req.RemoteAddr = fmt.Sprintf("10.0.%d.%d:1234", addrs/256, addrs%256)
				set(req)
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusUnauthorized {
					t.Errorf("%s %s with %s credential, Accept %s: status %d, want 401", rt.Method, path, name, accept, rec.Code)
				}
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d protected routes found", checked)
	}
	// Public routes are exactly these.
	for _, rt := range s.Routes() {
		if rt.Public && rt.Pattern != "/healthz" && rt.Pattern != "/login" && rt.Pattern != "/static/" {
			t.Errorf("route %s %s is public", rt.Method, rt.Pattern)
		}
	}
}

func TestHealthzAndLogin(t *testing.T) {
	s := newServer(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("healthz: %d %q", rec.Code, rec.Body.String())
	}
	// The login link sets an HttpOnly, SameSite session cookie that then works.
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/login?token="+token+"&next=/jobs/1", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/jobs/1" {
		t.Fatalf("login: %d %v", rec.Code, rec.Header())
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie: %+v", cookies)
	}
	req := httptest.NewRequest("GET", "/api/jobs/1", nil)
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("with cookie: %d %s", rec.Code, rec.Body)
	}
	// A bad token is refused, and an open redirect is not followed.
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/login?token=bad", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/login?token="+token+"&next=//evil.example", nil))
	if rec.Header().Get("Location") != "/" {
		t.Fatalf("open redirect: %v", rec.Header().Get("Location"))
	}
}

// The login page is shown to people without a credential: so are the
// stylesheet and scripts it loads.
func TestLoginPageAssetsArePublic(t *testing.T) {
	s := newServer(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `href="/static/style.css"`) {
		t.Fatalf("login page: %d, no stylesheet link", rec.Code)
	}
	for _, path := range []string{"/static/style.css", "/static/job.js"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Accept", "text/css,*/*;q=0.1")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("GET %s without a credential: %d, %d bytes", path, rec.Code, rec.Body.Len())
		}
	}
	// Still nothing but the embedded files there.
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/static/nope.css", nil))
	if rec.Code != 404 {
		t.Errorf("missing static file: %d", rec.Code)
	}
}

func TestBadRequests(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
		code, msg          string
	}{
		{"POST", "/api/jobs", `{"command": "true", "hosts": [`, 400, "invalid", "not valid JSON"},
		{"POST", "/api/jobs", ``, 400, "invalid", "empty"},
		{"POST", "/api/jobs", `[]`, 400, "invalid", "must be"},
		{"POST", "/api/jobs", `{"command": "true", "hosts": ["nope", "zz"]}`, 400, "invalid", "unknown host: nope, zz"},
		{"POST", "/api/jobs", `{"command": "", "hosts": ["local"]}`, 400, "invalid", "command is empty"},
		{"POST", "/api/jobs", `{"command": "true"}`, 400, "invalid", "no hosts"},
		{"POST", "/api/jobs", `{"command": "true", "hosts": ["local"], "timeout": "soon"}`, 400, "invalid", "not a duration"},
		{"POST", "/api/jobs", `{"command": "true", "hosts": ["local"], "colour": 1}`, 400, "invalid", "unknown field"},
		{"POST", "/api/jobs", `{"command": "true", "hosts": ["local"]} {}`, 400, "invalid", "more than one"},
		{"GET", "/api/jobs/42", ``, 404, "not_found", "job 42 does not exist"},
		{"GET", "/api/jobs/abc", ``, 400, "invalid", "not a job id"},
		{"GET", "/api/jobs/42/log", ``, 404, "not_found", "job 42 does not exist"},
		{"GET", "/api/jobs?status=done", ``, 400, "invalid", "status"},
		{"GET", "/api/jobs?limit=-1", ``, 400, "invalid", "limit"},
		{"GET", "/api/jobs/1/log?format=raw&host=x", ``, 400, "invalid", "not a host of job 1"},
		{"GET", "/api/jobs/1/log?format=sse&batch=yes", ``, 400, "invalid", `batch="yes" must be 1 or 0`},
		{"GET", "/api/jobs/1/log?batch=1", ``, 400, "invalid", "batch=1 is for the event stream"},
		{"DELETE", "/api/jobs", ``, 405, "method_not_allowed", "DELETE is not allowed"},
		{"GET", "/api/jobs/1/cancel", ``, 405, "method_not_allowed", "use POST"},
		{"GET", "/api/nothing", ``, 404, "not_found", "no page"},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Errorf("%s %s %s: body %q is not a JSON error", tc.method, tc.path, tc.body, rec.Body)
			continue
		}
		if rec.Code != tc.status || body.Error.Code != tc.code || !strings.Contains(body.Error.Message, tc.msg) {
			t.Errorf("%s %s %s: got %d %+v, want %d %s %q", tc.method, tc.path, tc.body, rec.Code, body.Error, tc.status, tc.code, tc.msg)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: content type %q", tc.method, tc.path, ct)
		}
	}
}

// idleJobs is a running job whose log never grows.
type idleJobs struct{ stubJobs }

func (idleJobs) Job(ctx context.Context, id int64) (*gaffer.Job, error) {
	return &gaffer.Job{ID: id, Status: gaffer.StatusRunning}, nil
}
func (idleJobs) ReadLog(ctx context.Context, id, after int64, limit int, _ *gaffer.ReadBuffer) ([]gaffer.Record, bool, error) {
	return nil, false, nil
}
func (idleJobs) ReadLogLines(ctx context.Context, id, after int64, limit int, l *gaffer.Lines) (bool, error) {
	l.Reset()
	return false, nil
}
func (idleJobs) WaitLog(ctx context.Context, id, after int64) error {
	<-ctx.Done()
	return ctx.Err()
}

// An idle stream gets comment pings, and outlives the server's write timeout.
func TestSSEIdlePings(t *testing.T) {
	s, err := web.New(idleJobs{}, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.PingInterval = 30 * time.Millisecond
	srv := httptest.NewUnstartedServer(s)
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api/jobs/1/log", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	pings := 0
	start := time.Now()
	for pings < 10 && sc.Scan() {
		if sc.Text() == ": ping" {
			pings++
		}
	}
	if pings < 10 {
		t.Fatalf("stream ended after %d pings: %v", pings, sc.Err())
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Fatalf("pings came too fast to have outlived the write timeout")
	}
}

// busyJobs is a job service whose database stays busy past its bound.
type busyJobs struct{ stubJobs }

func (busyJobs) Job(ctx context.Context, id int64) (*gaffer.Job, error) {
	return nil, fmt.Errorf("find job %d: begin: %w", id, context.DeadlineExceeded)
}

// Overload is answered 503 with Retry-After, never 500: a store that timed
// out, a store that says it is unavailable, and a full house of streams.
func TestOverloadIs503(t *testing.T) {
	s, err := web.New(busyJobs{}, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/jobs/1/log", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "busy") {
		t.Errorf("store timeout: %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}

	s, err = web.New(idleJobs{}, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.MaxStreams = 2
	srv := httptest.NewServer(s)
	defer srv.Close()
	open := func() *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/api/jobs/1/log", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a, b := open(), open()
	defer b.Body.Close()
	c := open()
	body, _ := io.ReadAll(c.Body)
	c.Body.Close()
	if a.StatusCode != 200 || b.StatusCode != 200 || c.StatusCode != 503 || c.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "maximum of 2 open log streams") {
		t.Fatalf("streams: %d %d %d Retry-After %q %s", a.StatusCode, b.StatusCode, c.StatusCode, c.Header.Get("Retry-After"), body)
	}
	// A stream that ends makes room.
	a.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); s.OpenStreams() > 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	d := open()
	d.Body.Close()
	if d.StatusCode != 200 {
		t.Fatalf("after one closed: %d", d.StatusCode)
	}
}
