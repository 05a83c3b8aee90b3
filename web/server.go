// Package web serves Gaffer's HTTP API, the log streams and the pages.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// JobService is what the web layer needs from the foreman.
type JobService interface {
	Start(ctx context.Context, req gaffer.JobRequest, by string) (*gaffer.Job, error)
	Cancel(ctx context.Context, id int64) (*gaffer.Job, error)
	Job(ctx context.Context, id int64) (*gaffer.Job, error)
	Jobs(ctx context.Context, filter gaffer.JobFilter) ([]*gaffer.Job, error)
	// ReadLog may return the records, and their data, in buf's memory
	// (gaffer.ReaderInto): the caller is done with its last read's.
	ReadLog(ctx context.Context, id, after int64, limit int, buf *gaffer.ReadBuffer) ([]gaffer.Record, bool, error)
	// ReadLogLines is ReadLog into l, which holds the records read (none
	// on an error): a viewer of lines events of the whole log reads so.
	ReadLogLines(ctx context.Context, id, after int64, limit int, l *gaffer.Lines) (bool, error)
	WaitLog(ctx context.Context, id, after int64) error
	RawLog(ctx context.Context, id int64, host string, stream gaffer.Stream, w io.Writer) error
	// Reading a large log anywhere, from the archive (foreman/query.go).
	QueryLog(ctx context.Context, id int64, r gaffer.LogRange) ([]gaffer.Record, bool, error)
	SeqAt(ctx context.Context, id int64, t time.Time) (int64, error)
	LogSummary(ctx context.Context, id int64) (*gaffer.LogSummary, error)
	SearchLog(ctx context.Context, id int64, q gaffer.SearchQuery, emit func(*gaffer.Record) error) (gaffer.SearchResult, error)
	Hosts() []gaffer.Host
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server is the HTTP handler of the whole service.
type Server struct {
	Jobs    JobService
	Auth    *Auth
	Logger  *slog.Logger
	Metrics http.Handler // /metrics; nil serves an empty page
	// PingInterval is how often an idle SSE stream gets a comment line, so
	// proxies and browsers keep it open. Default 15 s.
	PingInterval time.Duration
	// WriteTimeout bounds each write of a log stream: a viewer that stops
	// reading for that long has its connection closed (it resumes later
	// with Last-Event-ID), so it holds no memory of the server's for long.
	// Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxStreams caps the log streams open at once (SSE, NDJSON follow);
	// past it a viewer is answered 503 with Retry-After. Default
	// DefaultMaxStreams.
	MaxStreams int
	// MaxStreamsPerUser caps the log streams one credential holds open;
	// past it that credential is answered 429 with Retry-After, so one
	// token cannot take every stream of MaxStreams. Default
	// DefaultMaxStreamsPerUser.
	MaxStreamsPerUser int
	// Limiter limits failed token attempts per address (ratelimit.go);
	// nil limits nothing. Default: 10 a minute, burst 10.
	Limiter *Limiter
	// Audit is the audit trail (audit.go); nil records nothing.
	Audit gaffer.AuditLog
	// HostKeyFingerprints returns the fingerprints (SHA256:…) of the host
	// keys trusted for host, for the job.start audit event: which keys a
	// job's commands were allowed to reach. nil: the event has none.
	HostKeyFingerprints func(ctx context.Context, host string) []string
	// HostKeys holds the host keys hosts offered and admins approved
	// (hostkeys.go); nil: the host-key routes answer 404.
	HostKeys gaffer.HostKeyStore
	// SecureCookies marks session cookies Secure also on plain-HTTP
	// requests: set when a TLS proxy is in front (--public-url https://…).
	// Requests that came over TLS get Secure cookies anyway. It also sends
	// HSTS on plain-HTTP requests (headers.go).
	SecureCookies bool
	// PublicURL is the address people open (--public-url), e.g.
	// https://gaffer.example.com: links given to clients outside the pages
	// are made absolute with it (links.go). Empty: relative links.
	PublicURL string
	// StreamCheck is how often an open log stream's credential is checked
	// again, so a token revoked on another instance (or expired) ends its
	// streams within that time (streamcheck.go). Default DefaultStreamCheck.
	StreamCheck time.Duration

	pages   map[string]*template.Template
	mux     *http.ServeMux
	routes  []Route
	streams atomic.Int64
	// userStreams counts open streams by user name (MaxStreamsPerUser);
	// refused counts refusals by RefusedMax and RefusedPerUser.
	userMu      sync.Mutex
	userStreams map[string]int
	refused     [2]atomic.Int64
	// crossOrigin refuses unsafe requests of other origins (xorigin.go).
	crossOrigin *http.CrossOriginProtection
	// streamCreds are the open log streams by credential (streamcheck.go).
	streamCreds streamCreds
	// enc holds the log streams' encoded records (encodecache.go).
	enc encodeCache
	// gatherWait overrides pendingWait when > 0 (tests).
	gatherWait time.Duration
}

// Defaults of Server's settings.
const (
	DefaultWriteTimeout = 30 * time.Second
	DefaultMaxStreams   = 20000
	// DefaultMaxStreamsPerUser: one viewer's many tabs, not the house.
	DefaultMaxStreamsPerUser = 100
	// retryAfter is the Retry-After of every 503, in seconds.
	retryAfter = "5"
)

// OpenStreams is how many log streams (SSE, NDJSON follow) are open now.
func (s *Server) OpenStreams() int64 { return s.streams.Load() }

// Why a log stream was refused, for StreamsRefused.
const (
	RefusedMax     = 0 // MaxStreams: the server's
	RefusedPerUser = 1 // MaxStreamsPerUser: the credential's
)

// StreamsRefused is how many log streams were refused for the reason.
func (s *Server) StreamsRefused(reason int) int64 { return s.refused[reason].Load() }

// Route is one entry of the router's table. Public routes need no credential.
type Route struct {
	Method  string
	Pattern string
	Public  bool
	Role    Role
	handler http.HandlerFunc
}

// New parses the templates (failing fast on any error) and builds the router.
func New(jobs JobService, auth *Auth, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{Jobs: jobs, Auth: auth, Logger: logger, PingInterval: 15 * time.Second,
		WriteTimeout: DefaultWriteTimeout, MaxStreams: DefaultMaxStreams,
		Limiter: NewLimiter(10, time.Minute), crossOrigin: http.NewCrossOriginProtection()}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	s.routes = []Route{
		{Method: "GET", Pattern: "/healthz", Public: true, handler: s.healthz},
		{Method: "GET", Pattern: "/login", Public: true, handler: s.loginPage},
		{Method: "POST", Pattern: "/login", Public: true, handler: s.loginSubmit},
		{Method: "POST", Pattern: "/logout", Role: RoleViewer, handler: s.logout},
		{Method: "GET", Pattern: "/metrics", Role: RoleViewer, handler: s.metrics},
		{Method: "GET", Pattern: "/api/jobs", Role: RoleViewer, handler: s.listJobs},
		{Method: "POST", Pattern: "/api/jobs", Role: RoleOperator, handler: s.createJob},
		{Method: "GET", Pattern: "/api/jobs/{id}", Role: RoleViewer, handler: s.getJob},
		{Method: "POST", Pattern: "/api/jobs/{id}/cancel", Role: RoleOperator, handler: s.cancelJob},
		{Method: "GET", Pattern: "/api/jobs/{id}/log", Role: RoleViewer, handler: s.getLog},
		{Method: "GET", Pattern: "/api/jobs/{id}/log/summary", Role: RoleViewer, handler: s.logSummary},
		{Method: "GET", Pattern: "/api/jobs/{id}/log/search", Role: RoleViewer, handler: s.searchLog},
		{Method: "GET", Pattern: "/api/hosts", Role: RoleViewer, handler: s.listHosts},
		{Method: "GET", Pattern: "/api/hosts/keys", Role: RoleViewer, handler: s.listHostKeys},
		{Method: "POST", Pattern: "/api/hosts/{name}/keys/approve", Role: RoleAdmin, handler: s.approveHostKey},
		{Method: "GET", Pattern: "/hosts", Role: RoleViewer, handler: s.hostsPage},
		{Method: "GET", Pattern: "/api/audit", Role: RoleAdmin, handler: s.listAudit},
		{Method: "GET", Pattern: "/api/tokens", Role: RoleAdmin, handler: s.listTokens},
		{Method: "POST", Pattern: "/api/tokens", Role: RoleAdmin, handler: s.createToken},
		{Method: "DELETE", Pattern: "/api/tokens/{id}", Role: RoleAdmin, handler: s.revokeToken},
		{Method: "GET", Pattern: "/{$}", Role: RoleViewer, handler: s.jobsPage},
		{Method: "GET", Pattern: "/jobs/new", Role: RoleViewer, handler: s.newJobPage},
		{Method: "GET", Pattern: "/jobs/{id}", Role: RoleViewer, handler: s.jobPage},
		{Method: "GET", Pattern: "/audit", Role: RoleAdmin, handler: s.auditPage},
		// Public: the login page needs its stylesheet; these are the
		// embedded files of the pages, the same for everyone.
		{Method: "GET", Pattern: "/static/", Public: true, handler: fileServer.ServeHTTP},
	}
	s.mux = http.NewServeMux()
	byPattern := map[string][]Route{}
	var order []string
	for _, rt := range s.routes {
		if _, ok := byPattern[rt.Pattern]; !ok {
			order = append(order, rt.Pattern)
		}
		byPattern[rt.Pattern] = append(byPattern[rt.Pattern], rt)
	}
	// Methods are dispatched here, not by the mux, so a wrong method gets
	// the API's JSON 405 instead of the mux's plain-text one.
	for _, p := range order {
		s.mux.Handle(p, s.dispatch(byPattern[p]))
	}
	s.mux.HandleFunc("/", s.notFound)
	return s, nil
}

// openStream counts a log stream of the request's user in, or returns
// ETOOMANY when the user holds MaxStreamsPerUser (with Retry-After set on
// w) or EUNAVAILABLE when MaxStreams are open. The stream serves until the
// returned context ends (also when its credential is revoked: see
// streamcheck.go); call the returned func when the stream ends.
func (s *Server) openStream(w http.ResponseWriter, r *http.Request) (context.Context, func(), error) {
	max, perUser := s.MaxStreams, s.MaxStreamsPerUser
	if max <= 0 {
		max = DefaultMaxStreams
	}
	if perUser <= 0 {
		perUser = DefaultMaxStreamsPerUser
	}
	name := UserFrom(r.Context()).Name
	s.userMu.Lock()
	if s.userStreams[name] >= perUser {
		s.userMu.Unlock()
		s.refused[RefusedPerUser].Add(1)
		w.Header().Set("Retry-After", retryAfter)
		return nil, nil, gaffer.Errorf(gaffer.ETOOMANY, "you already hold the maximum of %d open log streams per credential; close one (another tab?) or try again in a few seconds", perUser)
	}
	if s.userStreams == nil {
		s.userStreams = map[string]int{}
	}
	s.userStreams[name]++
	s.userMu.Unlock()
	release := func() {
		s.userMu.Lock()
		if s.userStreams[name]--; s.userStreams[name] <= 0 {
			delete(s.userStreams, name)
		}
		s.userMu.Unlock()
	}
	if s.streams.Add(1) > int64(max) {
		s.streams.Add(-1)
		release()
		s.refused[RefusedMax].Add(1)
		return nil, nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "this server already serves its maximum of %d open log streams; try again in a few seconds", max)
	}
	ctx, unwatch := s.watchStream(r.Context(), UserFrom(r.Context()))
	return ctx, func() { unwatch(); s.streams.Add(-1); release() }, nil
}

// writeTimeout is the bound of one write of a log stream.
func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout <= 0 {
		return DefaultWriteTimeout
	}
	return s.WriteTimeout
}

// Routes returns the router's table (tests use it to check every route's auth).
func (s *Server) Routes() []Route { return s.routes }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.setSecurityHeaders(w, r)
	if !s.checkOrigin(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) dispatch(routes []Route) http.Handler {
	var allow []string
	for _, rt := range routes {
		allow = append(allow, rt.Method)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		for _, rt := range routes {
			if rt.Method != method {
				continue
			}
			if !rt.Public {
				user, ok := s.authenticate(w, r)
				if !ok {
					return
				}
				if !user.Role.Allows(rt.Role) {
					s.error(w, r, gaffer.Errorf(gaffer.EFORBIDDEN, "%s may not do this (needs the %s role)", user.Name, rt.Role))
					return
				}
				r = r.WithContext(withUser(r.Context(), user))
			}
			if !requireJSON(w, r) {
				return
			}
			rt.handler(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r); !ok {
		return
	}
	s.error(w, r, gaffer.Errorf(gaffer.ENOTFOUND, "there is no page at %s", r.URL.Path))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.Metrics == nil {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		return
	}
	s.Metrics.ServeHTTP(w, r)
}

// statusOf maps domain error codes to HTTP statuses: the one place that does.
var statusOf = map[string]int{
	gaffer.EINVALID:      http.StatusBadRequest,
	gaffer.ENOTFOUND:     http.StatusNotFound,
	gaffer.ECONFLICT:     http.StatusConflict,
	gaffer.EUNAUTHORIZED: http.StatusUnauthorized,
	gaffer.EFORBIDDEN:    http.StatusForbidden,
	gaffer.ETOOMANY:      http.StatusTooManyRequests,
	gaffer.EUNAVAILABLE:  http.StatusServiceUnavailable,
	gaffer.EINTERNAL:     http.StatusInternalServerError,
}

// error writes err as the API's JSON error; internal errors are logged and
// shown only as "internal error". Overload is never a 500: a timeout while
// the request itself is fine (a database pool that stayed busy) is a 503,
// and every 503 says when to come back.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	if gaffer.ErrorCode(err) == gaffer.EINTERNAL && errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
		s.Logger.Warn("request timed out under load", "method", r.Method, "path", r.URL.Path, "err", err)
		err = gaffer.Errorf(gaffer.EUNAVAILABLE, "the server is busy; try again in a few seconds")
	}
	code := gaffer.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	} else if status >= 500 {
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if wantsHTML(r) {
		s.renderError(w, status, gaffer.ErrorMessage(err))
		return
	}
	writeJSONError(w, status, code, gaffer.ErrorMessage(err))
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	if wantsHTML(r) && r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="gaffer"`)
	writeJSONError(w, http.StatusUnauthorized, gaffer.EUNAUTHORIZED,
		"missing or invalid credential: send Authorization: Bearer <token>, or log in with the link the server printed")
}

// wantsHTML is true for page routes and browsers asking for HTML.
func wantsHTML(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// pathID reads the {id} path value as a job id.
func pathID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, gaffer.Errorf(gaffer.EINVALID, "%q is not a job id (a positive whole number)", v)
	}
	return id, nil
}

// decodeJSON reads a JSON body into v, with a message a person understands.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ge *gaffer.Error
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ge):
			return ge
		case errors.Is(err, io.EOF):
			return gaffer.Errorf(gaffer.EINVALID, "the request body is empty: send a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return gaffer.Errorf(gaffer.EINVALID, "the request body is not valid JSON: it ends too early")
		case errors.As(err, &se):
			return gaffer.Errorf(gaffer.EINVALID, "the request body is not valid JSON (at byte %d): %v", se.Offset, err)
		case errors.As(err, &te):
			return gaffer.Errorf(gaffer.EINVALID, "field %q must be %s, not %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return gaffer.Errorf(gaffer.EINVALID, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return gaffer.Errorf(gaffer.EINVALID, "the request body could not be read as JSON: %v", err)
	}
	if dec.More() {
		return gaffer.Errorf(gaffer.EINVALID, "the request body holds more than one JSON value")
	}
	return nil
}
