package foreman_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
	"github.com/gaffer-dev/gaffer/sqlite"
)

func newLimitedForeman(t *testing.T, exec gaffer.Executor, cfg foreman.Config) *foreman.Foreman {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Live, cfg.Archive, cfg.Executor = db, memory.NewLiveLog(0, 0), a, exec
	cfg.Hosts = func() []gaffer.Host { return []gaffer.Host{{Name: "h"}} }
	f := foreman.New(cfg)
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	return f
}

// Past MaxRunningJobs a start is refused as unavailable (503 with
// Retry-After), counted, and a job that ends makes room.
func TestMaxRunningJobs(t *testing.T) {
	f := newLimitedForeman(t, &blockingExec{}, foreman.Config{MaxRunningJobs: 2})
	ctx := context.Background()
	req := gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}
	j1, err := f.Start(ctx, req, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Start(ctx, req, "t"); err != nil {
		t.Fatal(err)
	}
	_, err = f.Start(ctx, req, "t")
	if gaffer.ErrorCode(err) != gaffer.EUNAVAILABLE || !strings.Contains(gaffer.ErrorMessage(err), "2 running jobs") {
		t.Fatalf("third start: %v", err)
	}
	if n := f.Stats().JobsRefusedMaxRunning.Load(); n != 1 {
		t.Fatalf("refused count %d", n)
	}
	if jobs, _ := f.Jobs(ctx, gaffer.JobFilter{}); len(jobs) != 2 {
		t.Fatalf("a refused start stored a job: %d jobs", len(jobs))
	}
	if _, err := f.Cancel(ctx, j1.ID); err != nil {
		t.Fatal(err)
	}
	waitDone(t, f, j1.ID)
	// The slot is freed as the job's end is recorded, just after its
	// status reads done.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := f.Start(ctx, req, "t")
		if err == nil {
			break
		}
		if gaffer.ErrorCode(err) != gaffer.EUNAVAILABLE || time.Now().After(deadline) {
			t.Fatalf("after one ended: %v", err)
		}
	}
}

// A start that fails validation does not hold a slot.
func TestMaxRunningJobsInvalidKeepsNoSlot(t *testing.T) {
	f := newLimitedForeman(t, &blockingExec{}, foreman.Config{MaxRunningJobs: 1})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := f.Start(ctx, gaffer.JobRequest{Command: "x", Hosts: []string{"nope"}}, "t"); gaffer.ErrorCode(err) != gaffer.EINVALID {
			t.Fatalf("unknown host: %v", err)
		}
	}
	if _, err := f.Start(ctx, gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t"); err != nil {
		t.Fatal(err)
	}
}

func TestMaxConcurrency(t *testing.T) {
	f := newLimitedForeman(t, &blockingExec{}, foreman.Config{MaxConcurrency: 50})
	ctx := context.Background()
	for _, tc := range []struct {
		concurrency int
		ok          bool
	}{{0, true}, {1, true}, {50, true}, {51, false}, {1000000000000, false}} {
		j, err := f.Start(ctx, gaffer.JobRequest{Command: "x", Hosts: []string{"h"}, Concurrency: tc.concurrency}, "t")
		switch {
		case tc.ok && err != nil:
			t.Errorf("concurrency %d: %v", tc.concurrency, err)
		case !tc.ok && (gaffer.ErrorCode(err) != gaffer.EINVALID || !strings.Contains(gaffer.ErrorMessage(err), "limit of 50")):
			t.Errorf("concurrency %d: want EINVALID naming the limit, got %v", tc.concurrency, err)
		}
		if j != nil {
			f.Cancel(ctx, j.ID)
		}
	}
	// The default ceiling holds without configuration.
	f = newLimitedForeman(t, &blockingExec{}, foreman.Config{})
	if _, err := f.Start(ctx, gaffer.JobRequest{Command: "x", Hosts: []string{"h"}, Concurrency: foreman.DefaultMaxConcurrency + 1}, "t"); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Errorf("over the default ceiling: %v", err)
	}
}
