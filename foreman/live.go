package foreman

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Bounds on how much the live log may cost capture.
const (
	// liveQueueBytes bounds one job's records waiting for the live log (by
	// Record.Size); beyond it the oldest are dropped.
	liveQueueBytes = 2 << 20
	// liveTimeout bounds one Append or Close of the live log.
	liveTimeout = 2 * time.Second
	// liveStall is how long an Append may take before readers stop waiting
	// for the live log and read the archive.
	liveStall = 250 * time.Millisecond
	// liveCloseWait bounds how long a job's end waits for its live log to
	// take the last records and close.
	liveCloseWait = 3 * time.Second
	// liveRetryMax is the longest pause between attempts on a failing live log.
	liveRetryMax = time.Second
)

// liveAppender feeds one job's live log off the capture path: push queues
// a batch and returns at once; the appender's goroutine appends what is
// queued. When the live log cannot keep up (Redis slow or away) the oldest
// queued records are dropped and the live log skips ahead past them (see
// gaffer.LiveLog.Append): they are in the archive, the source of truth, so
// capture never waits on the live log.
type liveAppender struct {
	live   gaffer.LiveLog
	jobID  int64
	logger *slog.Logger
	// moved is called when readers may find something new: the live log
	// took records, or it became unhealthy (read the archive instead).
	moved func()
	// direct: the live log is in process (gaffer.InProcessLiveLog): push
	// appends in line, and the goroutine only closes it.
	direct bool

	mu    sync.Mutex
	queue *liveQueue // consecutive seqs, oldest first
	// spare is the queue last handed to the live log, handed back by run
	// once the live log has taken (copied) its records: the queue and its
	// blocks do not grow from nothing every round.
	spare    *liveQueue
	dropped  int64 // records the live log never got
	appended int64 // seq of the newest record the live log took
	failing  bool  // the last Append failed
	stalled  bool  // the Append in flight takes longer than liveStall
	closing  bool
	closed   bool          // the live log is closed
	calls    int           // Appends started, so a late watchdog knows its own
	inFlight bool          // an Append is under way
	wake     chan struct{} // one pending signal
	done     chan struct{} // closed when the goroutine ends
}

func newLiveAppender(live gaffer.LiveLog, jobID int64, logger *slog.Logger, moved func()) *liveAppender {
	_, direct := live.(gaffer.InProcessLiveLog)
	a := &liveAppender{live: live, jobID: jobID, logger: logger, moved: moved, direct: direct, queue: &liveQueue{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a
}

// push queues copies of records for the live log (an in-process one takes
// them at once). It never blocks.
func (a *liveAppender) push(recs []gaffer.Record) {
	if a.direct {
		a.appendNow(recs)
		return
	}
	size := 0
	for i := range recs {
		size += recs[i].Size()
	}
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		return
	}
	a.dropped += int64(a.queue.dropOldest(size, liveQueueBytes))
	a.queue.add(recs)
	a.mu.Unlock()
	a.signal()
}

// appendNow appends recs to an in-process live log in line: it copies
// them itself and never waits on I/O, so a queue would only add a copy and
// a goroutine's wake-up per chunk. Under mu, so that close comes after.
func (a *liveAppender) appendNow(recs []gaffer.Record) {
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		return
	}
	err := a.live.Append(context.Background(), a.jobID, recs)
	wasFailing := a.failing
	a.failing = err != nil
	if err == nil {
		a.appended = recs[len(recs)-1].Seq
	} else {
		a.dropped += int64(len(recs))
	}
	a.mu.Unlock()
	a.logTransition(err, wasFailing)
	// No a.moved() here: the job's writer calls push under its own lock,
	// and tells readers itself once it lets go of it.
}

func (a *liveAppender) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// last is the seq of the newest record the live log holds.
func (a *liveAppender) last() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.appended
}

// healthy reports whether the live log keeps up: readers may count on it.
func (a *liveAppender) healthy() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.failing && !a.stalled
}

// close appends what is queued and closes the live log, waiting at most
// wait for it, and reports whether the live log is closed. The goroutine
// goes on alone after that; each of its calls is bounded by liveTimeout.
func (a *liveAppender) close(wait time.Duration) bool {
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()
	a.signal()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-a.done:
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.closed
	case <-t.C:
		a.logger.Warn("the live log is slow: the job ended before it took the last records", "job", a.jobID)
		return false
	}
}

func (a *liveAppender) run() {
	defer close(a.done)
	retry := time.Duration(0)
	for {
		a.mu.Lock()
		for len(a.queue.recs) == 0 && !a.closing {
			a.mu.Unlock()
			<-a.wake
			a.mu.Lock()
		}
		q, closing := a.queue, a.closing
		a.queue, a.spare = a.spare, nil
		if a.queue == nil {
			a.queue = &liveQueue{}
		}
		a.mu.Unlock()

		if len(q.recs) > 0 {
			err := a.append(q.recs)
			// The live log keeps no reference to the records
			// (LiveLog.Append copies or encodes them): reuse the queue.
			q.reset()
			a.mu.Lock()
			a.spare = q
			a.mu.Unlock()
			if err != nil {
				if closing {
					// No retries at the end: the archive has the records.
					a.closeLive()
					return
				}
				retry = min(max(2*retry, 50*time.Millisecond), liveRetryMax)
				time.Sleep(retry)
			} else {
				retry = 0
			}
			continue
		}
		a.closeLive()
		return
	}
}

// append hands recs to the live log within liveTimeout, telling readers
// if it takes longer than liveStall.
func (a *liveAppender) append(recs []gaffer.Record) error {
	a.mu.Lock()
	a.calls++
	call := a.calls
	a.inFlight = true
	a.mu.Unlock()
	watchdog := time.AfterFunc(liveStall, func() {
		a.mu.Lock()
		stalled := a.calls == call && a.inFlight
		a.stalled = a.stalled || stalled
		a.mu.Unlock()
		if stalled {
			a.moved()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	err := a.live.Append(ctx, a.jobID, recs)
	cancel()
	watchdog.Stop()

	a.mu.Lock()
	wasFailing := a.failing
	a.stalled, a.failing, a.inFlight = false, err != nil, false
	if err == nil {
		a.appended = recs[len(recs)-1].Seq
	} else {
		a.dropped += int64(len(recs))
	}
	a.mu.Unlock()
	a.logTransition(err, wasFailing)
	a.moved()
	return err
}

// logTransition logs an append that failed after working, or worked after
// failing.
func (a *liveAppender) logTransition(err error, wasFailing bool) {
	switch {
	case err != nil && !wasFailing:
		a.logger.Error("live log append failed; viewers read the archive until it is back", "job", a.jobID, "err", err)
	case err == nil && wasFailing:
		a.mu.Lock()
		dropped := a.dropped
		a.mu.Unlock()
		a.logger.Info("live log append works again", "job", a.jobID, "records_not_live", dropped)
	}
}

func (a *liveAppender) closeLive() {
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	err := a.live.Close(ctx, a.jobID)
	if err != nil {
		a.logger.Error("close live log", "job", a.jobID, "err", err)
	}
	a.mu.Lock()
	a.closed = err == nil
	a.mu.Unlock()
	a.moved()
}
