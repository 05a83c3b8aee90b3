package web

import (
	"context"
	"time"
)

// waitBound bounds a stream's waits for new records: a wait ends after d
// without news since the stream last sent something (SSE: time for a
// ping). One timer and one context per stream and per bound that passes,
// not per wait: a thousand viewers of a busy job each wait after every
// batch, and a context with a deadline per wait (a timer, and a child
// registered with the request's context) was a tenth of the server's CPU.
type waitBound struct {
	parent context.Context
	d      time.Duration
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
}

func newWaitBound(parent context.Context, d time.Duration) *waitBound {
	w := &waitBound{parent: parent, d: d}
	w.renew()
	return w
}

func (w *waitBound) renew() {
	w.ctx, w.cancel = context.WithCancel(w.parent)
	w.timer = time.AfterFunc(w.d, w.cancel)
}

// wait waits for records after `after`, or until the bound passes (then
// passed is true, and the next bound starts) or the parent ends.
func (w *waitBound) wait(jobs JobService, id, after int64) (passed bool) {
	jobs.WaitLog(w.ctx, id, after)
	if w.ctx.Err() == nil || w.parent.Err() != nil {
		return false
	}
	w.timer.Stop()
	w.renew()
	return true
}

// reset starts the bound again: the stream just sent something. (Should
// the timer have fired meanwhile, the next wait ends at once as passed: a
// ping too many, no wait too long.)
func (w *waitBound) reset() { w.timer.Reset(w.d) }

func (w *waitBound) stop() {
	w.timer.Stop()
	w.cancel()
}
