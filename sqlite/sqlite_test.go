package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/sqlite"
	"github.com/gaffer-dev/gaffer/storetest"
)

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

// The audit trail is append-only in the file itself: SQL run on it outside
// the store cannot change or delete an entry.
func TestAuditAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gaffer.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer MustCloseDB(t, db)
	e := &gaffer.AuditEvent{TS: storetest.T0, Actor: "alice", Action: gaffer.AuditLogin, Detail: []byte(`{"a":1}`)}
	storetest.MustAppendAudit(t, db, e)

	sqldb, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	for _, stmt := range []string{
		`UPDATE audit SET actor = 'mallory'`,
		`UPDATE audit SET detail = NULL WHERE id = 1`,
		`DELETE FROM audit`,
		`DELETE FROM audit WHERE id = 1`,
		`INSERT INTO audit (id, ts, actor, action, target, remote_addr) VALUES (1, '', 'mallory', 'login', '', '')
			ON CONFLICT (id) DO UPDATE SET actor = excluded.actor`,
		`INSERT OR REPLACE INTO audit (id, ts, actor, action, target, remote_addr) VALUES (1, '', 'mallory', 'login', '', '')`,
	} {
		if _, err := sqldb.Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
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
		path := filepath.Join(t.TempDir(), "gaffer.db")
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		job := &gaffer.Job{Command: "uptime", Status: gaffer.StatusQueued, CreatedAt: storetest.T0,
			Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusQueued}}}
		storetest.MustCreateJob(t, db, job)
		if err := db.SetSetting(t.Context(), "k", "v"); err != nil {
			t.Fatal(err)
		}
		MustCloseDB(t, db)

		// Opening again applies nothing twice and keeps the data.
		for range 2 {
			db, err = sqlite.Open(path)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			storetest.AssertJobEqual(t, storetest.MustFindJob(t, db, job.ID), job)
			if v, err := db.Setting(t.Context(), "k"); err != nil || v != "v" {
				t.Fatalf("Setting after reopen = %q, %v", v, err)
			}
			MustCloseDB(t, db)
		}

		// Each migration is recorded once.
		names := migrationNames(t, path)
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

	// Processes starting together apply each migration once, without
	// "database is locked".
	t.Run("Concurrent", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gaffer.db")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				db, err := sqlite.Open(path)
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
		if names := migrationNames(t, path); len(names) != len(entries) {
			t.Fatalf("migrations table holds %v, want %d rows", names, len(entries))
		}
	})

	t.Run("CreatesFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "new.db")
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer MustCloseDB(t, db)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("database file not created: %v", err)
		}
	})

	t.Run("OddPath", func(t *testing.T) {
		// Characters that mean something in a SQLite URI stay in the name.
		dir := filepath.Join(t.TempDir(), "a?b#c%20d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "gaffer db?.sqlite")
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer MustCloseDB(t, db)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("database file not created at %q: %v", path, err)
		}
	})

	t.Run("MissingDir", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope", "gaffer.db")
		if db, err := sqlite.Open(path); err == nil {
			db.Close()
			t.Fatal("Open succeeded in a directory that does not exist")
		}
	})

	t.Run("EmptyPath", func(t *testing.T) {
		if db, err := sqlite.Open(""); err == nil {
			db.Close()
			t.Fatal("Open succeeded with an empty path")
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

// MustOpenDB returns a new, empty DB in a temporary directory, closed when
// the test ends.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "gaffer.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { MustCloseDB(tb, db) })
	return db
}

// MustCloseDB closes db or fails the test.
func MustCloseDB(tb testing.TB, db *sqlite.DB) {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}

// migrationNames reads the migrations table directly, bypassing DB.
func migrationNames(tb testing.TB, path string) []string {
	tb.Helper()
	sqldb, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer sqldb.Close()
	rows, err := sqldb.Query(`SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			tb.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return names
}

// A burst of 2000 concurrent reads beside a writer uses a bounded number of
// connections (each takes file descriptors: unbounded, a burst of viewers
// ran the server out of them). A read that waits too long for one fails
// with EUNAVAILABLE (a 503), never with another error.
func TestBurstUsesBoundedConnections(t *testing.T) {
	db := MustOpenDB(t)
	job := &gaffer.Job{Command: "true", Status: gaffer.StatusRunning, CreatedAt: storetest.T0,
		Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusRunning}}}
	storetest.MustCreateJob(t, db, job)
	fds := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	before := fds()
	peak := before
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak = max(peak, fds())
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 2100)
	for i := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := db.FindJob(t.Context(), job.ID); err != nil {
				errs <- err
			}
			if i%20 == 0 {
				if _, err := db.Heartbeat(t.Context(), "a", time.Now()); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	busy := 0
	for err := range errs {
		if gaffer.ErrorCode(err) == gaffer.EUNAVAILABLE {
			busy++
		} else {
			t.Errorf("under a burst: %v", err)
		}
	}
	if busy > 0 {
		t.Logf("%d of 2000 reads found the database busy", busy)
	}
	// Each connection holds the database and its WAL open.
	if grew := peak - before; grew > 3*(sqlite.MaxReaders+1) {
		t.Errorf("a burst of 2000 reads opened %d more file descriptors; want at most %d", grew, 3*(sqlite.MaxReaders+1))
	}
}
