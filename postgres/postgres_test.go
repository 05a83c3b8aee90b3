package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/postgres"
	"github.com/gaffer-dev/gaffer/storetest"
	"github.com/jackc/pgx/v5"
)

// defaultTestURL is the server scripts/test provides when
// GAFFER_TEST_DATABASE_URL is not set.
const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) gaffer.JobStore { return MustOpenDB(t) })
}

func TestAuthStore(t *testing.T) {
	storetest.RunAuth(t, func(t *testing.T) gaffer.AuthStore { return MustOpenDB(t) })
}

func TestAuditLog(t *testing.T) {
	storetest.RunAudit(t, func(t *testing.T) gaffer.AuditLog { return MustOpenDB(t) })
}

func TestHostKeyStore(t *testing.T) {
	storetest.RunHostKeys(t, func(t *testing.T) gaffer.HostKeyStore { return MustOpenDB(t) })
}

// The audit trail is append-only in the database itself: SQL run on it
// outside the store cannot change, delete or truncate an entry.
func TestAuditAppendOnly(t *testing.T) {
	dbURL := MustCreateDatabase(t)
	db := mustOpen(t, dbURL)
	defer MustCloseDB(t, db)
	e := &gaffer.AuditEvent{TS: storetest.T0, Actor: "alice", Action: gaffer.AuditLogin, Detail: []byte(`{"a":1}`)}
	storetest.MustAppendAudit(t, db, e)

	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, stmt := range []string{
		`UPDATE audit SET actor = 'mallory'`,
		`UPDATE audit SET detail = NULL WHERE id = 1`,
		`DELETE FROM audit`,
		`DELETE FROM audit WHERE id = 1`,
		`TRUNCATE audit`,
		`INSERT INTO audit (id, ts, actor, action, target, remote_addr) OVERRIDING SYSTEM VALUE
			VALUES (1, 0, 'mallory', 'login', '', '') ON CONFLICT (id) DO UPDATE SET actor = excluded.actor`,
	} {
		if _, err := conn.Exec(t.Context(), stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error = %v, want the trail to refuse as append-only", stmt, err)
		}
	}
	got := storetest.MustFindAudit(t, db, gaffer.AuditFilter{})
	if len(got) != 1 {
		t.Fatalf("%d events after the attempts, want 1", len(got))
	}
	storetest.AssertAuditEqual(t, got[0], e)
}

func TestOpen(t *testing.T) {
	t.Run("MigrationsIdempotent", func(t *testing.T) {
		dbURL := MustCreateDatabase(t)
		db := mustOpen(t, dbURL)
		job := &gaffer.Job{Command: "uptime", Status: gaffer.StatusQueued, CreatedAt: storetest.T0,
			Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusQueued}}}
		storetest.MustCreateJob(t, db, job)
		if err := db.SetSetting(t.Context(), "k", "v"); err != nil {
			t.Fatal(err)
		}
		MustCloseDB(t, db)

		// Opening again applies nothing twice and keeps the data.
		for range 2 {
			db = mustOpen(t, dbURL)
			storetest.AssertJobEqual(t, storetest.MustFindJob(t, db, job.ID), job)
			if v, err := db.Setting(t.Context(), "k"); err != nil || v != "v" {
				t.Fatalf("Setting after reopen = %q, %v", v, err)
			}
			MustCloseDB(t, db)
		}

		// Each migration is recorded once, under its file name.
		names := migrationNames(t, dbURL)
		entries, err := os.ReadDir("migrations")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != len(entries) {
			t.Fatalf("migrations table holds %v, want one row for each of %d files", names, len(entries))
		}
		for i, e := range entries {
			if names[i] != "migrations/"+e.Name() {
				t.Fatalf("migration %d recorded as %q, want %q", i, names[i], "migrations/"+e.Name())
			}
		}
	})

	// Servers starting together on a new database apply each migration
	// once and none fails.
	t.Run("Concurrent", func(t *testing.T) {
		dbURL := MustCreateDatabase(t)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				db, err := postgres.Open(t.Context(), dbURL)
				if err != nil {
					errs[i] = err
					return
				}
				errs[i] = db.Close()
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
			}
		}
		entries, err := os.ReadDir("migrations")
		if err != nil {
			t.Fatal(err)
		}
		if names := migrationNames(t, dbURL); len(names) != len(entries) {
			t.Fatalf("migrations table holds %v, want %d rows", names, len(entries))
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		addr := closedPort(t)
		start := time.Now()
		db, err := postgres.Open(t.Context(), "postgres://gaffer:s3cret-pw@"+addr+"/gaffer?sslmode=disable")
		if err == nil {
			db.Close()
			t.Fatalf("Open succeeded on %s where nothing listens", addr)
		}
		msg := err.Error()
		if want := "cannot reach PostgreSQL at " + addr + ": "; !strings.HasPrefix(msg, want) {
			t.Fatalf("error = %q, want it to start with %q", msg, want)
		} else if strings.Contains(msg, "s3cret-pw") {
			t.Fatalf("error shows the password: %q", msg)
		} else if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Open took %v to give up on a refused connection", d)
		}
	})

	// A server that answers but refuses is not called unreachable.
	t.Run("MissingDatabase", func(t *testing.T) {
		u := mustParseURL(t, adminURL())
		u.Path = "/gaffer_test_does_not_exist"
		db, err := postgres.Open(t.Context(), u.String())
		if err == nil {
			db.Close()
			t.Fatal("Open succeeded on a database that does not exist")
		}
		msg := err.Error()
		if !strings.Contains(msg, "refused the connection") || !strings.Contains(msg, `"gaffer_test_does_not_exist" does not exist`) {
			t.Fatalf("error = %q, want it to say the database does not exist", msg)
		}
	})

	t.Run("BadURL", func(t *testing.T) {
		for _, s := range []string{"", "postgres://gaffer:s3cret-pw@localhost:notaport/db"} {
			db, err := postgres.Open(t.Context(), s)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", s)
			} else if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("error shows the password: %q", err)
			}
		}
	})
}

func TestDB_Settings(t *testing.T) {
	storetest.RunSettings(t, MustOpenDB(t))
}

// With the clock fixed, interrupted jobs and runs finish exactly at its time.
func TestDB_InterruptUnfinished_Now(t *testing.T) {
	db := MustOpenDB(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	db.Now = func() time.Time { return now }

	job := &gaffer.Job{Command: "sleep 9", Status: gaffer.StatusRunning, CreatedAt: storetest.T0,
		Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusRunning, StartedAt: storetest.At(1)}}}
	storetest.MustCreateJob(t, db, job)
	ids, err := db.InterruptUnfinished(t.Context(), "stopped")
	if err != nil {
		t.Fatal(err)
	} else if len(ids) != 1 || ids[0] != job.ID {
		t.Fatalf("ids = %v, want [%d]", ids, job.ID)
	}
	want := *job
	want.Status, want.FinishedAt = gaffer.StatusInterrupted, &now
	want.Runs = []*gaffer.Run{{Host: "web1", Status: gaffer.StatusInterrupted, Error: "stopped",
		StartedAt: storetest.At(1), FinishedAt: &now}}
	storetest.AssertJobEqual(t, storetest.MustFindJob(t, db, job.ID), &want)
}

// With the clock fixed, jobs and runs interrupted as stale finish exactly at
// its time, which is unrelated to the heartbeat times compared.
func TestDB_InterruptStale_Now(t *testing.T) {
	db := MustOpenDB(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	db.Now = func() time.Time { return now }

	storetest.MustHeartbeat(t, db, "gaffer-1", *storetest.At(-1))
	job := &gaffer.Job{Command: "sleep 9", Status: gaffer.StatusRunning, CreatedAt: storetest.T0, Owner: "gaffer-1",
		Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusRunning, StartedAt: storetest.At(1)}}}
	storetest.MustCreateJob(t, db, job)
	ids := storetest.MustInterruptStale(t, db, storetest.T0, "gaffer-1 went silent")
	if len(ids) != 1 || ids[0] != job.ID {
		t.Fatalf("ids = %v, want [%d]", ids, job.ID)
	}
	want := *job
	want.Status, want.FinishedAt = gaffer.StatusInterrupted, &now
	want.Runs = []*gaffer.Run{{Host: "web1", Status: gaffer.StatusInterrupted, Error: "gaffer-1 went silent",
		StartedAt: storetest.At(1), FinishedAt: &now}}
	storetest.AssertJobEqual(t, storetest.MustFindJob(t, db, job.ID), &want)
}

// Times are stored as int64 nanoseconds: one outside that range is refused,
// not wrapped around, and nothing is stored.
func TestDB_TimeOutOfRange(t *testing.T) {
	db := MustOpenDB(t)
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, job := range []*gaffer.Job{
		{Command: "x", Status: gaffer.StatusQueued, CreatedAt: far},
		{Command: "x", Status: gaffer.StatusQueued, CreatedAt: storetest.T0, StartedAt: &time.Time{}},
		{Command: "x", Status: gaffer.StatusQueued, CreatedAt: storetest.T0,
			Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusFailed, FinishedAt: &far}}},
	} {
		if err := db.CreateJob(t.Context(), job); gaffer.ErrorCode(err) != gaffer.EINVALID {
			t.Fatalf("CreateJob error = %v, want EINVALID", err)
		}
	}
	if jobs := storetest.MustFindJobs(t, db, gaffer.JobFilter{}); len(jobs) != 0 {
		t.Fatalf("%d jobs stored", len(jobs))
	}

	job := &gaffer.Job{Command: "x", Status: gaffer.StatusRunning, CreatedAt: storetest.T0,
		Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusRunning}}}
	storetest.MustCreateJob(t, db, job)
	if err := db.UpdateJob(t.Context(), &gaffer.Job{ID: job.ID, Status: gaffer.StatusFailed, FinishedAt: &far}); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Fatalf("UpdateJob error = %v, want EINVALID", err)
	}
	if err := db.UpdateRun(t.Context(), job.ID, &gaffer.Run{Host: "web1", Status: gaffer.StatusFailed, FinishedAt: &far}); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Fatalf("UpdateRun error = %v, want EINVALID", err)
	}
	storetest.AssertJobEqual(t, storetest.MustFindJob(t, db, job.ID), job)

	if _, err := db.Heartbeat(t.Context(), "gaffer-1", far); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Fatalf("Heartbeat error = %v, want EINVALID", err)
	} else if _, err := db.InterruptStale(t.Context(), far, "x"); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Fatalf("InterruptStale error = %v, want EINVALID", err)
	}
	storetest.AssertJobEqual(t, storetest.MustFindJob(t, db, job.ID), job)
}

// MustOpenDB returns a DB on a new, empty database of its own, closed and
// dropped when the test ends.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	db := mustOpen(tb, MustCreateDatabase(tb))
	tb.Cleanup(func() { MustCloseDB(tb, db) })
	return db
}

func mustOpen(tb testing.TB, dbURL string) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(tb.Context(), dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// MustCloseDB closes db or fails the test.
func MustCloseDB(tb testing.TB, db *postgres.DB) {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}

// MustCreateDatabase creates a database with a random name on the test
// server and returns its URL. The database is dropped when the test ends,
// after cleanups registered later (such as closing a DB on it).
func MustCreateDatabase(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	name := "gaffer_test_" + hex.EncodeToString(b)

	conn := mustConnectAdmin(tb)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(tb.Context(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		conn := mustConnectAdmin(tb)
		defer conn.Close(context.Background())
		// The test's context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})

	u := mustParseURL(tb, adminURL())
	u.Path = "/" + name
	return u.String()
}

// adminURL is the database tests connect to in order to create their own.
func adminURL() string {
	if s := os.Getenv("GAFFER_TEST_DATABASE_URL"); s != "" {
		return s
	}
	return defaultTestURL
}

// mustConnectAdmin connects to adminURL, failing (not skipping) the test
// when no server answers: the PostgreSQL store must be tested.
func mustConnectAdmin(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		tb.Fatalf("cannot connect to the test PostgreSQL at %s: %v\n"+
			"Start one (scripts/test does) or set GAFFER_TEST_DATABASE_URL.",
			mustParseURL(tb, adminURL()).Redacted(), err)
	}
	return conn
}

func mustParseURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("GAFFER_TEST_DATABASE_URL must be a postgres:// URL")
	}
	return u
}

// closedPort returns a loopback address where nothing listens.
func closedPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// migrationNames reads the migrations table directly, bypassing DB.
func migrationNames(tb testing.TB, dbURL string) []string {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(tb.Context(), `SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return names
}
