package web

import (
	"context"
	"testing"
	"time"
)

// waitJobs's WaitLog returns at once when news is set, else when its
// context ends.
type waitJobs struct {
	JobService
	news bool
}

func (j *waitJobs) WaitLog(ctx context.Context, id, after int64) error {
	if j.news {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// A wait with news does not pass the bound; one without ends when the bound
// passes, and the next bound starts then (a wait after it waits again); a
// reset pushes the bound back; the request's end ends a wait, not as a
// passed bound.
func TestWaitBound(t *testing.T) {
	const d = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jobs := &waitJobs{news: true}
	w := newWaitBound(ctx, d)
	defer w.stop()
	if w.wait(jobs, 1, 0) {
		t.Fatal("a wait with news passed the bound")
	}
	jobs.news = false
	for i := 0; i < 2; i++ {
		start := time.Now()
		if !w.wait(jobs, 1, 0) {
			t.Fatalf("wait %d without news ended without passing the bound", i)
		}
		if took := time.Since(start); took < d/2 {
			t.Fatalf("wait %d ended after %v: the bound had not been renewed", i, took)
		}
	}
	// Resets keep the bound from passing while the stream sends: 1.5 s of
	// resets 50 ms apart against a bound of 1 s (only a stall of almost a
	// second between two resets could pass it). The request's end ends
	// the wait, and not as a passed bound.
	long := newWaitBound(ctx, time.Second)
	defer long.stop()
	done := make(chan bool)
	go func() { done <- long.wait(jobs, 1, 0) }()
	for i := 0; i < 30; i++ {
		time.Sleep(50 * time.Millisecond)
		long.reset()
	}
	select {
	case <-done:
		t.Fatal("a wait ended although nothing came and the bound was reset")
	default:
	}
	cancel()
	if <-done {
		t.Fatal("the request's end counted as a passed bound")
	}
}
