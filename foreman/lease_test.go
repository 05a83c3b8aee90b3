package foreman_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
	"github.com/gaffer-dev/gaffer/sqlite"
)

// stallingBeats is a store where every third heartbeat hangs until its
// context ends, as on a hung connection or a lock wait.
type stallingBeats struct {
	gaffer.JobStore
	n atomic.Int64
}

func (s *stallingBeats) Heartbeat(ctx context.Context, owner string, now time.Time) ([]int64, error) {
	if s.n.Add(1)%3 == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.JobStore.Heartbeat(ctx, owner, now)
}

// A heartbeat that stalls does not cost a healthy instance its lease: the
// next ones go through on time, so no other instance would find it silent,
// and it does not stop its own jobs.
func TestStalledHeartbeatKeepsLease(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, _ := archive.Open(t.TempDir())
	const ttl = 2 * time.Second
	store := &stallingBeats{JobStore: db}
	f := foreman.New(foreman.Config{Store: store, Live: memory.NewLiveLog(0, 0), Archive: a, Executor: &blockingExec{},
		Hosts: func() []gaffer.Host { return []gaffer.Host{{Name: "h"}} }, Shared: true, LeaseTTL: ttl, Instance: "a"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Watch(ctx)
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		time.Sleep(ttl / 2)
		// What another instance's sweep would do now.
		ids, err := db.InterruptStale(ctx, time.Now().UTC().Add(-ttl), "silent")
		if err != nil {
			t.Fatal(err)
		} else if len(ids) > 0 {
			t.Fatalf("after %d stalled heartbeats of %d, another instance would have interrupted jobs %v", store.n.Load()/3, store.n.Load(), ids)
		}
		if j, err := f.Job(ctx, job.ID); err != nil || j.Status != gaffer.StatusRunning {
			t.Fatalf("job after %d stalled heartbeats: %v %v", store.n.Load()/3, j.Status, err)
		}
	}
}
