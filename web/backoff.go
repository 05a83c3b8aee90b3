package web

import (
	"context"
	"time"
)

// idle spaces out the reads of a log stream that woke up to find nothing:
// WaitLog may return early, and a log that cannot move on for a while must
// not make its viewers spin a core.
type idle struct{ d time.Duration }

const (
	idleMin = 10 * time.Millisecond
	idleMax = 500 * time.Millisecond
)

// wait pauses, a little longer each time in a row, or until ctx ends.
func (b *idle) wait(ctx context.Context) {
	b.d = min(max(2*b.d, idleMin), idleMax)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// reset is called when a read found something.
func (b *idle) reset() { b.d = 0 }
