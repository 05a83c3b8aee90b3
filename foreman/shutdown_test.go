package foreman_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
	"github.com/gaffer-dev/gaffer/sqlite"
)

// gatedStore holds the first CreateJob until release is closed.
type gatedStore struct {
	gaffer.JobStore
	first   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s *gatedStore) CreateJob(ctx context.Context, job *gaffer.Job) error {
	if s.first.CompareAndSwap(false, true) {
		close(s.entered)
		<-s.release
	}
	return s.JobStore.CreateJob(ctx, job)
}

func newStore(t *testing.T) gaffer.JobStore {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newArchive(t *testing.T) *archive.Archive {
	t.Helper()
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A Start that is under way when Shutdown begins either fails with
// EUNAVAILABLE or its job is interrupted before Shutdown returns: no job
// runs on after Shutdown said what it interrupted.
func TestStartDuringShutdown(t *testing.T) {
	store := &gatedStore{JobStore: newStore(t), entered: make(chan struct{}), release: make(chan struct{})}
	f := foreman.New(foreman.Config{Store: store, Live: memory.NewLiveLog(0, 0), Archive: newArchive(t), Executor: &blockingExec{},
		Hosts: func() []gaffer.Host { return []gaffer.Host{{Name: "h"}} }})

	type started struct {
		job *gaffer.Job
		err error
	}
	startc := make(chan started, 1)
	go func() {
		j, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t")
		startc <- started{j, err}
	}()
	<-store.entered // Start is past its first look at whether the server closes
	shutc := make(chan error, 1)
	go func() {
		_, err := f.Shutdown(context.Background())
		shutc <- err
	}()
	time.Sleep(100 * time.Millisecond) // let Shutdown begin; either order must hold up
	close(store.release)
	s := <-startc
	select {
	case err := <-shutc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return in 30 s")
	}
	if s.err != nil {
		if gaffer.ErrorCode(s.err) != gaffer.EUNAVAILABLE {
			t.Fatalf("start during shutdown: %v, want EUNAVAILABLE", s.err)
		}
		return
	}
	if j, err := f.Job(context.Background(), s.job.ID); err != nil || !j.Status.Done() {
		t.Fatalf("job %d, started while the server shut down, is %s after Shutdown returned (%v): it runs on", s.job.ID, j.Status, err)
	}
}

// Starts racing Shutdown (run with -race): after both, no job is running.
func TestStartRacesShutdown(t *testing.T) {
	for i := 0; i < 20; i++ {
		store := newStore(t)
		f := foreman.New(foreman.Config{Store: store, Live: memory.NewLiveLog(0, 0), Archive: newArchive(t), Executor: &blockingExec{},
			Hosts: func() []gaffer.Host { return []gaffer.Host{{Name: "h"}} }})
		var wg sync.WaitGroup
		ids := make(chan int64, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if j, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t"); err == nil {
					ids <- j.ID
				} else if gaffer.ErrorCode(err) != gaffer.EUNAVAILABLE {
					t.Errorf("start: %v", err)
				}
			}()
		}
		if _, err := f.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(ids)
		for id := range ids {
			if j, err := f.Job(context.Background(), id); err != nil || !j.Status.Done() {
				t.Fatalf("round %d: job %d is %s after Shutdown returned (%v)", i, id, j.Status, err)
			}
		}
	}
}

// hungStore is a database that stopped answering: job and run updates
// wait until their context ends.
type hungStore struct {
	gaffer.JobStore
	gone    chan struct{} // closed when the test ends
	waiting atomic.Int32
}

func (s *hungStore) hang(ctx context.Context) error {
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.gone:
		return fmt.Errorf("test over")
	}
}

func (s *hungStore) UpdateRun(ctx context.Context, id int64, r *gaffer.Run) error { return s.hang(ctx) }
func (s *hungStore) UpdateJob(ctx context.Context, j *gaffer.Job) error           { return s.hang(ctx) }

// Workers never wait on the store without a bound: with a database that
// stopped answering, a job still ends (its updates time out and are
// logged) and Shutdown returns.
func TestWorkersBoundStoreWrites(t *testing.T) {
	store := &hungStore{JobStore: newStore(t), gone: make(chan struct{})}
	t.Cleanup(func() { close(store.gone) })
	exec := &fakeExec{results: map[string]gaffer.Result{}, output: "hi\n"}
	f := foreman.New(foreman.Config{Store: store, Live: memory.NewLiveLog(0, 0), Archive: newArchive(t), Executor: exec,
		Hosts: func() []gaffer.Host { return []gaffer.Host{{Name: "h1"}, {Name: "h2"}} }, StoreTimeout: 100 * time.Millisecond})
	if _, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h1", "h2"}}, "t"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); f.Stats().ActiveJobs.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job is still active after 30 s: %d worker(s) wait on a store that does not answer", store.waiting.Load())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
