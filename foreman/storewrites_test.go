package foreman_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/foreman"
)

// jobWriteCounter counts the writes of the job row.
type jobWriteCounter struct {
	gaffer.JobStore
	jobWrites atomic.Int32
}

func (s *jobWriteCounter) UpdateJob(ctx context.Context, job *gaffer.Job) error {
	s.jobWrites.Add(1)
	return s.JobStore.UpdateJob(ctx, job)
}

// A job on many hosts writes its row when its status or times change, not
// once per run: the runs' starts would queue that many identical writes on
// the store. What is stored is the job as it ended.
func TestJobRowWrittenOnChangesOnly(t *testing.T) {
	const n = 50
	var hosts []gaffer.Host
	results := map[string]gaffer.Result{}
	for i := range n {
		name := fmt.Sprintf("h%d", i)
		hosts = append(hosts, gaffer.Host{Name: name, Address: "10.0.0.1"})
		results[name] = gaffer.Result{}
	}
	var store *jobWriteCounter
	f := newForemanConfig(t, &fakeExec{results: results, output: "hello\n"}, nil, hosts, func(c *foreman.Config) {
		store = &jobWriteCounter{JobStore: c.Store}
		c.Store = store
	})
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: names(hosts), Concurrency: n}, "test")
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, f, job.ID)
	if got := store.jobWrites.Load(); got > 5 {
		t.Errorf("a job on %d hosts wrote its row %d times, want a few (start, end)", n, got)
	}
	stored, err := store.JobStore.FindJob(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != gaffer.StatusSucceeded || stored.StartedAt == nil || stored.FinishedAt == nil {
		t.Errorf("stored job: %s, started %v, finished %v", stored.Status, stored.StartedAt, stored.FinishedAt)
	}
	for _, r := range stored.Runs {
		if r.Status != gaffer.StatusSucceeded || r.StartedAt == nil || r.FinishedAt == nil {
			t.Errorf("stored run %s: %s, started %v, finished %v", r.Host, r.Status, r.StartedAt, r.FinishedAt)
		}
	}
}
