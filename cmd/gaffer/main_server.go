package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/inventory"
	"github.com/gaffer-dev/gaffer/localexec"
	"github.com/gaffer-dev/gaffer/memory"
	"github.com/gaffer-dev/gaffer/postgres"
	"github.com/gaffer-dev/gaffer/redis"
	"github.com/gaffer-dev/gaffer/sqlite"
	"github.com/gaffer-dev/gaffer/sshexec"
	"github.com/gaffer-dev/gaffer/web"
	"github.com/gaffer-dev/gaffer/webhook"
)

// Main is the server: every component, built once in Open, in one place,
// so what serves /metrics is what runs the jobs. Tests start it in-process.
type Main struct {
	Config serveConfig
	Stdout io.Writer // the start-up and shutdown lines
	Logger *slog.Logger

	DB      store
	Archive *archive.Archive
	Live    gaffer.LiveLog
	redis   *redis.LiveLog // Live, when it is Redis: shut down on Close
	Hosts   []gaffer.Host
	SSH     *sshexec.Executor
	// HostKeys is the store's host keys with the managed known_hosts file;
	// nil when the store keeps none.
	HostKeys *sshexec.ManagedKnownHosts
	Local    *localexec.Executor
	Foreman  *foreman.Foreman
	Web      *web.Server
	HTTP     *http.Server
	Listener net.Listener
	// URL is where the server answers, e.g. http://127.0.0.1:8080.
	URL string
	// TLS is nil when the server speaks plain HTTP (tls.go).
	TLS *tls.Config
	// fingerprint is the SHA-256 of the --tls-self-signed certificate.
	fingerprint string

	// Retention deletes old jobs (--retain, --retain-jobs); nil when off.
	Retention *retention
	// Now is retention's clock (default time.Now); tests replace it before Open.
	Now func() time.Time

	stopStreams context.CancelFunc // ends log streams' requests
	stopWatch   context.CancelFunc // ends Foreman.Watch
	watchDone   chan struct{}
	stopRetain  context.CancelFunc // ends Retention.Run
	retainDone  chan struct{}
	serveErr    chan error
	closed      bool
}

// NewMain returns a server for c; Open builds it.
func NewMain(c serveConfig, stdout io.Writer, logger *slog.Logger) *Main {
	return &Main{Config: c, Stdout: stdout, Logger: logger}
}

// Open builds every component, recovers what a previous server left
// running, listens, prints the start-up lines and starts serving. On error,
// call Close to release what was built.
func (m *Main) Open(ctx context.Context) error {
	c := &m.Config
	if c.redisURL != "" && c.databaseURL == "" {
		return errors.New("--redis-url needs --database-url: instances that share live logs must share the job database too")
	}
	if c.instance == "" {
		host, _ := os.Hostname()
		c.instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.archiveDir == "" {
		c.archiveDir = filepath.Join(c.dataDir, "archive")
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	var err error
	if m.TLS, m.fingerprint, err = loadTLS(*c); err != nil {
		return err
	}
	if c.databaseURL != "" {
		m.DB, err = postgres.Open(ctx, c.databaseURL)
	} else {
		m.DB, err = sqlite.Open(filepath.Join(c.dataDir, "gaffer.db"))
	}
	if err != nil {
		m.DB = nil // a typed nil would look open to Close
		return fmt.Errorf("open the job database: %w", err)
	}
	if m.Archive, err = archive.Open(c.archiveDir); err != nil {
		return fmt.Errorf("open log archive: %w", err)
	}
	if c.redisURL != "" {
		rl, err := redis.New(ctx, c.redisURL, redis.Options{Prefix: c.redisPrefix, MaxBytesPerJob: int64(c.liveBuffer)})
		if err != nil {
			return fmt.Errorf("open the live log: %w (gaffer does not start without the Redis it was given)", err)
		}
		m.redis, m.Live = rl, rl
	} else {
		m.Live = memory.NewLiveLog(c.liveBuffer, c.liveBudget)
	}

	inv, err := loadHosts(*c, m.Logger)
	if err != nil {
		return err
	}
	local, warn, why := decideLocal(string(c.local), c.listen)
	if warn {
		m.Logger.Warn(why)
	} else {
		m.Logger.Info(why)
	}
	if local {
		m.Hosts = append(m.Hosts, inventory.Local())
	}
	m.Hosts = append(m.Hosts, inv.Hosts...)
	if len(m.Hosts) == 0 {
		return fmt.Errorf("no hosts: give --inventory FILE or --ssh-config FILE (%s)", why)
	}
	// Each host carries its route (ProxyJump): one executor reaches them all.
	m.SSH = &sshexec.Executor{KnownHostsFile: expandHome(c.knownHosts), ConnectTimeout: c.connectTimeout, Logger: m.Logger}
	// Host-key approval, when the store keeps host keys: unknown keys are
	// listed for an admin instead of failing for good; the managed
	// known_hosts file mirrors the approved ones.
	if hk, ok := m.DB.(gaffer.HostKeyStore); ok {
		if c.managedKnownHosts == "" {
			c.managedKnownHosts = filepath.Join(c.dataDir, "known_hosts")
		}
		managed := expandHome(c.managedKnownHosts)
		if abs(managed) == abs(expandHome(c.knownHosts)) {
			return fmt.Errorf("--managed-known-hosts %s is also --known-hosts: the server rewrites the managed file, so it must be another one", managed)
		}
		m.HostKeys = &sshexec.ManagedKnownHosts{HostKeyStore: hk, Path: managed}
		if err := m.HostKeys.Sync(ctx); err != nil {
			return err
		}
		m.SSH.HostKeys = hk
	}
	m.Local = &localexec.Executor{Env: c.localEnv}

	secrets, err := readSecretFile(c.secretFile)
	if err != nil {
		return err
	}
	hosts := m.Hosts
	m.Foreman = foreman.New(foreman.Config{
		Store:      m.DB,
		Live:       m.Live,
		Archive:    m.Archive,
		Executor:   m.SSH,
		Local:      m.Local,
		Follower:   m.SSH,
		Webhooks:   func(url string) gaffer.AlertSink { return webhook.New(url, webhook.Options{}) },
		Hosts:      func() []gaffer.Host { return append([]gaffer.Host(nil), hosts...) },
		Logger:     m.Logger,
		LiveLinger: c.liveLinger,
		Instance:   c.instance,
		Shared:     c.databaseURL != "",
		LeaseTTL:   c.leaseTTL,

		LocalFollower:  m.Local, // follow jobs on the host local
		MaxRunningJobs: c.maxRunningJobs,
		MaxConcurrency: c.maxConcurrency,
		Secrets:        secrets,
	})
	if ids, err := m.Foreman.Recover(ctx); err != nil {
		return err
	} else if len(ids) > 0 {
		fmt.Fprintf(m.Stdout, "gaffer: %d job(s) left running by the previous server are now marked interrupted: %s\n", len(ids), joinIDs(ids))
	}
	if ids := m.Foreman.Resumed(); len(ids) > 0 {
		fmt.Fprintf(m.Stdout, "gaffer: %d follow job(s) left running by the previous server go on: %s\n", len(ids), joinIDs(ids))
	}

	auth, token, err := setupAuth(ctx, m.DB, *c)
	if err != nil {
		return err
	}
	if m.Web, err = web.New(m.Foreman, auth, m.Logger); err != nil {
		return err
	}
	// The audit trail lives in the job database (both stores keep one).
	if al, ok := m.DB.(gaffer.AuditLog); ok {
		m.Web.Audit = al
	}
	if m.HostKeys != nil {
		m.Web.HostKeys = m.HostKeys
	}
	m.Web.HostKeyFingerprints = m.hostKeyFingerprints
	if c.retain > 0 || c.retainJobs > 0 {
		if m.Now == nil {
			m.Now = time.Now
		}
		m.Retention = &retention{Store: m.DB, Archive: m.Archive, Live: m.Live, Logger: m.Logger,
			MaxAge: c.retain, Keep: c.retainJobs, Every: c.retainEvery, Now: m.Now,
			Forget: m.Foreman.Forget}
	}
	m.Web.Metrics = metricsHandler(m.Foreman, m.Web, m.SSH, m.Live, m.Retention)
	m.Web.MaxStreams, m.Web.WriteTimeout = m.Config.maxStreams, m.Config.streamWriteTimeout
	m.Web.SecureCookies = m.TLS != nil || strings.HasPrefix(c.publicURL, "https:")
	m.Web.PublicURL = c.publicURL
	m.Web.MaxStreamsPerUser = m.Config.maxStreamsPerUser

	if m.Listener, err = net.Listen("tcp", c.listen); err != nil {
		return fmt.Errorf("listen on %s: %w (is another gaffer running? use --listen)", c.listen, err)
	}
	m.URL = "http://" + displayAddr(m.Listener.Addr().String())
	if m.TLS != nil {
		m.URL = "https://" + displayAddr(m.Listener.Addr().String())
	}
	m.printStart(token)

	// Streams end when the server stops; no WriteTimeout, so long SSE
	// streams live as long as their viewers.
	streamCtx, stopStreams := context.WithCancel(context.Background())
	m.stopStreams = stopStreams
	m.HTTP = &http.Server{
		Handler:           m.Web,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return streamCtx },
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
		TLSConfig:         m.TLS, // ServeTLS offers h2 on it: HTTP/2 lifts browsers' 6 streams per origin
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	m.stopWatch, m.watchDone = stopWatch, make(chan struct{})
	go func() {
		defer close(m.watchDone)
		m.Foreman.Watch(watchCtx)
	}()
	if m.Retention != nil {
		retainCtx, stopRetain := context.WithCancel(context.Background())
		m.stopRetain, m.retainDone = stopRetain, make(chan struct{})
		go func() {
			defer close(m.retainDone)
			m.Retention.Run(retainCtx)
		}()
	}
	m.serveErr = make(chan error, 1)
	go func() {
		if m.TLS != nil {
			m.serveErr <- m.HTTP.ServeTLS(m.Listener, "", "")
			return
		}
		m.serveErr <- m.HTTP.Serve(m.Listener)
	}()
	return nil
}

func abs(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// hostKeyFingerprints returns the fingerprints a connection to the host
// the store names host (an inventory host, else a jump host on the way to
// one) would accept now; none for an unknown or local host.
func (m *Main) hostKeyFingerprints(ctx context.Context, host string) []string {
	find := func() *gaffer.Host {
		for i := range m.Hosts {
			if m.Hosts[i].Name == host {
				return &m.Hosts[i]
			}
		}
		for i := range m.Hosts {
			for j := range m.Hosts[i].Jump {
				if sshexec.HostKeyName(&m.Hosts[i].Jump[j]) == host {
					return &m.Hosts[i].Jump[j]
				}
			}
		}
		return nil
	}
	h := find()
	if h == nil {
		return nil
	}
	fps, err := m.SSH.Fingerprints(ctx, h)
	if err != nil {
		m.Logger.Debug("host keys: fingerprints", "host", host, "err", err)
	}
	return fps
}

func (m *Main) printStart(token string) {
	c := &m.Config
	mode := "embedded SQLite, in-process live log"
	if c.databaseURL != "" {
		mode = "shared PostgreSQL, in-process live log"
		if c.redisURL != "" {
			mode = "shared PostgreSQL and Redis"
		}
		mode += ", instance " + c.instance
	}
	if m.fingerprint != "" {
		cert := filepath.Join(c.dataDir, selfSignedCert)
		fmt.Fprintf(m.Stdout, "gaffer: self-signed TLS certificate %s, SHA-256 fingerprint %s\n  (browsers warn about it: compare the fingerprint; the CLI trusts it with --ca-file %s)\n", cert, m.fingerprint, cert)
	}
	fmt.Fprintf(m.Stdout, "gaffer: listening on %s (data in %s, %d host(s); %s)\n", m.URL, c.dataDir, len(m.Hosts), mode)
	base := m.URL
	if c.publicURL != "" {
		base = strings.TrimRight(c.publicURL, "/")
	}
	switch {
	case token != "":
		fmt.Fprintf(m.Stdout, "gaffer: admin token created; it is shown only this once.\n  Log in: %s/login?token=%s\n  CLI:    export GAFFER_SERVER=%s GAFFER_TOKEN=%s\n", base, token, base, token)
	case c.adminToken != "":
		fmt.Fprintf(m.Stdout, "gaffer: log in at %s/login with the --admin-token\n", base)
	default:
		fmt.Fprintf(m.Stdout, "gaffer: log in at %s/login with the admin token printed on first start (lost it? restart with --reset-admin-token)\n", base)
	}
}

// Run serves until ctx ends (nil) or the HTTP server fails.
func (m *Main) Run(ctx context.Context) error {
	select {
	case err := <-m.serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// Close stops the server in the reverse order of Open: running jobs are
// interrupted (within --shutdown-grace) and recorded, viewers get their
// final events, then streams, the HTTP server, SSH connections, the live
// log and the database close. It is safe after a failed Open.
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	// Retention first: jobs interrupted by the shutdown are not its to delete.
	if m.stopRetain != nil {
		m.stopRetain()
		<-m.retainDone
	}
	if m.Foreman != nil && m.HTTP != nil {
		fmt.Fprintln(m.Stdout, "gaffer: shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), m.Config.shutdownGrace)
		ids, err := m.Foreman.Shutdown(sctx)
		cancel()
		resume := m.Foreman.Suspended()
		if len(resume) > 0 {
			fmt.Fprintf(m.Stdout, "gaffer: %d follow job(s) go on when the server starts again: %s\n", len(resume), joinIDs(resume))
		}
		switch {
		case len(ids) == 0 && len(resume) > 0:
		case len(ids) == 0:
			fmt.Fprintln(m.Stdout, "gaffer: no jobs were running")
		default:
			fmt.Fprintf(m.Stdout, "gaffer: interrupted %d running job(s): %s; their logs so far are kept and they are marked interrupted\n", len(ids), joinIDs(ids))
		}
		if err != nil {
			fmt.Fprintln(m.Stdout, "gaffer:", err)
		}
		// Give viewers a moment to receive the final events, then close streams.
		time.Sleep(200 * time.Millisecond)
	} else if m.Foreman != nil {
		// Open failed after Recover: stop its pending live-buffer deletions.
		m.Foreman.Shutdown(context.Background())
	}
	if m.stopStreams != nil {
		m.stopStreams()
	}
	if m.HTTP != nil {
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m.HTTP.Shutdown(hctx)
		cancel()
	} else if m.Listener != nil {
		m.Listener.Close()
	}
	if m.stopWatch != nil {
		m.stopWatch()
		<-m.watchDone
	}
	if m.SSH != nil {
		m.SSH.Close()
	}
	if m.redis != nil {
		m.redis.Shutdown()
	}
	if m.DB != nil {
		m.DB.Close()
	}
	if m.HTTP != nil {
		fmt.Fprintln(m.Stdout, "gaffer: stopped")
	}
	return nil
}
