package foreman_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/foreman"
)

// heldEndStore holds the write of a job's final status until released:
// the job has ended (its status says so) but is still being finished.
type heldEndStore struct {
	gaffer.JobStore
	release chan struct{}
}

func (s *heldEndStore) UpdateJob(ctx context.Context, j *gaffer.Job) error {
	if j.Status.Done() {
		<-s.release
	}
	return s.JobStore.UpdateJob(ctx, j)
}

// A job whose status is final is not canceled, also while the server is
// still finishing it (storing its end, completing its log): the answer is
// the conflict a finished job gets, not an accepted cancel.
func TestCancelWhileFinishing(t *testing.T) {
	held := &heldEndStore{release: make(chan struct{})}
	exec := &fakeExec{results: map[string]gaffer.Result{}, output: "hi\n"}
	f := newForemanWith(t, exec, func(c *foreman.Config) {
		held.JobStore = c.Store
		c.Store = held
	})
	released := false
	release := func() {
		if !released {
			released = true
			close(held.release)
		}
	}
	defer release()
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	j := waitDone(t, f, job.ID) // its end not yet stored
	got, err := f.Cancel(context.Background(), job.ID)
	if gaffer.ErrorCode(err) != gaffer.ECONFLICT || !strings.Contains(gaffer.ErrorMessage(err), "already "+string(j.Status)) {
		t.Errorf("Cancel of job %d, %s and being finished: %+v, %v; want a conflict", job.ID, j.Status, got, err)
	}
	release()
	for deadline := time.Now().Add(10 * time.Second); f.Stats().ActiveJobs.Load() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the job is still active")
		}
	}
	if _, err := f.Cancel(context.Background(), job.ID); gaffer.ErrorCode(err) != gaffer.ECONFLICT {
		t.Errorf("Cancel of finished job %d: %v, want a conflict", job.ID, err)
	}
	if j := waitDone(t, f, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Errorf("job %d ended %s", job.ID, j.Status)
	}
}
