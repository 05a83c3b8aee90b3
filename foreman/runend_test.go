package foreman_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/foreman"
)

// storeAtRunEnd is a live log that, when a run's end line arrives, looks the
// job up in the store, as a viewer on another instance does when that line
// makes its stream send a status event. It is in-process, so the job's
// writer appends in line: the line is seen before the job ends.
type storeAtRunEnd struct {
	gaffer.InProcessLiveLog
	store gaffer.JobStore

	mu   sync.Mutex
	seen map[string]gaffer.Status // host → its run's status in the store then
}

func (l *storeAtRunEnd) Append(ctx context.Context, jobID int64, recs []gaffer.Record) error {
	for i := range recs {
		if recs[i].Stream == gaffer.System && strings.HasPrefix(string(recs[i].Data), "exit status") {
			job, err := l.store.FindJob(ctx, jobID)
			if err != nil {
				return err
			}
			l.mu.Lock()
			for _, r := range job.Runs {
				if r.Host == recs[i].Host {
					l.seen[r.Host] = r.Status
				}
			}
			l.mu.Unlock()
		}
	}
	return l.InProcessLiveLog.Append(ctx, jobID, recs)
}

// A run's end line comes after its end is stored: a viewer that the line
// sends to the store (another instance's) finds the run ended, not running.
func TestRunEndStoredBeforeItsLine(t *testing.T) {
	exec := &fakeExec{results: map[string]gaffer.Result{"h": {ExitCode: 0}}, output: "hello\n"}
	var live *storeAtRunEnd
	f := newForemanWith(t, exec, func(cfg *foreman.Config) {
		live = &storeAtRunEnd{InProcessLiveLog: cfg.Live.(gaffer.InProcessLiveLog), store: cfg.Store, seen: map[string]gaffer.Status{}}
		cfg.Live = live
	})
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, f, job.ID)
	live.mu.Lock()
	defer live.mu.Unlock()
	if st, ok := live.seen["h"]; !ok {
		t.Fatal("no run end line seen")
	} else if st != gaffer.StatusSucceeded {
		t.Fatalf("when the run's end line was appended, the store had the run %s, want %s", st, gaffer.StatusSucceeded)
	}
}
