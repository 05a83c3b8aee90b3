// Package memory implements gaffer.LiveLog in the server's memory: for each
// running job it keeps a bounded tail of the log and wakes readers when
// records arrive. Older records are dropped; readers asking for them get
// ETRIMMED and read the archive instead.
package memory

import (
	"context"
	"sync"

	"github.com/gaffer-dev/gaffer"
)

// DefaultMaxBytes bounds one job's buffer when NewLiveLog is given no limit.
const DefaultMaxBytes = 8 << 20

// DefaultReadLimit is the number of records Read returns when limit <= 0.
const DefaultReadLimit = 1000

// Ensure LiveLog implements the interface.
var _ gaffer.LiveLog = (*LiveLog)(nil)

// LiveLog is an in-memory gaffer.LiveLog. The zero value is not usable; call
// NewLiveLog.
type LiveLog struct {
	maxBytes int

	mu   sync.RWMutex
	jobs map[int64]*buffer
}

// buffer is the tail of one job's log. recs[head:] are the records held, with
// seqs first, first+1, …, last; recs[:head] are dropped slots, zeroed so
// their data can be collected, and reclaimed by compact.
type buffer struct {
	recs   []gaffer.Record
	head   int
	size   int   // sum of Record.Size over held records
	first  int64 // seq of recs[head]; last+1 when nothing is held
	last   int64 // seq of the newest record ever appended; 0 before any
	closed bool
	// changed is closed and replaced on every Append, Close and Delete, so
	// any number of waiters wake at once without per-reader queues.
	changed chan struct{}
}

// NewLiveLog returns a LiveLog that holds at most maxBytes per job (as
// measured by Record.Size), or DefaultMaxBytes when maxBytes <= 0. The newest
// record is always kept, even when it alone is larger.
func NewLiveLog(maxBytes int) *LiveLog {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &LiveLog{maxBytes: maxBytes, jobs: make(map[int64]*buffer)}
}

// Create starts an empty live log for a job. ECONFLICT if it already exists.
func (l *LiveLog) Create(ctx context.Context, jobID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.jobs[jobID]; ok {
		return gaffer.Errorf(gaffer.ECONFLICT, "live log for job %d already exists", jobID)
	}
	l.jobs[jobID] = &buffer{first: 1, changed: make(chan struct{})}
	return nil
}

// Append adds records whose seqs continue the log: last+1, last+2, …. The
// whole batch is rejected with EINVALID otherwise, or if the log is closed.
// It never waits for readers.
func (l *LiveLog) Append(ctx context.Context, jobID int64, recs []gaffer.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.jobs[jobID]
	if !ok {
		return notFound(jobID)
	} else if b.closed {
		return gaffer.Errorf(gaffer.EINVALID, "live log for job %d is closed", jobID)
	}
	for i := range recs {
		if want := b.last + 1 + int64(i); recs[i].Seq != want {
			return gaffer.Errorf(gaffer.EINVALID, "live log for job %d: record seq %d, want %d", jobID, recs[i].Seq, want)
		}
	}
	if len(recs) == 0 {
		return nil
	}

	for i := range recs {
		b.size += recs[i].Size()
	}
	b.recs = append(b.recs, recs...)
	b.last += int64(len(recs))
	b.trim(l.maxBytes)
	b.broadcast()
	return nil
}

// trim drops the oldest records until the buffer fits maxBytes, keeping the
// newest record whatever its size.
func (b *buffer) trim(maxBytes int) {
	for b.size > maxBytes && len(b.recs)-b.head > 1 {
		b.size -= b.recs[b.head].Size()
		b.recs[b.head] = gaffer.Record{}
		b.head++
		b.first++
	}
	// Reclaim dropped slots once they are the larger part, so the backing
	// array stays within a small factor of what is held (amortised O(1)).
	if b.head > 0 && b.head >= len(b.recs)-b.head {
		held := make([]gaffer.Record, len(b.recs)-b.head, 2*(len(b.recs)-b.head))
		copy(held, b.recs[b.head:])
		b.recs, b.head = held, 0
	}
}

func (b *buffer) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Read returns up to limit (DefaultReadLimit when <= 0) records with seq >
// after. end is true when the log is closed and nothing follows them.
// ETRIMMED if the record after `after` was dropped, ENOTFOUND if there is no
// such job.
func (l *LiveLog) Read(ctx context.Context, jobID int64, after int64, limit int) ([]gaffer.Record, bool, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	if after < 0 {
		after = 0
	}

	l.mu.RLock()
	defer l.mu.RUnlock()
	b, ok := l.jobs[jobID]
	if !ok {
		return nil, false, notFound(jobID)
	} else if after+1 < b.first {
		return nil, false, gaffer.Errorf(gaffer.ETRIMMED, "live log for job %d no longer holds records after %d", jobID, after)
	} else if after >= b.last {
		return nil, b.closed, nil
	}

	i := b.head + int(after+1-b.first)
	n := min(limit, len(b.recs)-i)
	// A copy, so that later trims (which zero dropped slots) and compaction
	// never race with the caller. Data is shared: it is immutable.
	recs := make([]gaffer.Record, n)
	copy(recs, b.recs[i:i+n])
	return recs, b.closed && recs[n-1].Seq == b.last, nil
}

// Wait blocks until a record with seq > after exists, the log is closed or
// deleted, or ctx is done (returning ctx.Err()). ENOTFOUND if there is no
// such job when Wait is called.
func (l *LiveLog) Wait(ctx context.Context, jobID int64, after int64) error {
	for {
		l.mu.RLock()
		b, ok := l.jobs[jobID]
		if !ok {
			l.mu.RUnlock()
			return notFound(jobID)
		} else if b.last > after || b.closed {
			l.mu.RUnlock()
			return nil
		}
		changed := b.changed
		l.mu.RUnlock()

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}

		// Deleted while we waited: that is a wake-up, not an error; the
		// reader's next Read gets ENOTFOUND and turns to the archive.
		l.mu.RLock()
		_, ok = l.jobs[jobID]
		l.mu.RUnlock()
		if !ok {
			return nil
		}
	}
}

// Close marks the log complete and wakes all waiters. Closing twice is fine.
func (l *LiveLog) Close(ctx context.Context, jobID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.jobs[jobID]
	if !ok {
		return notFound(jobID)
	} else if !b.closed {
		b.closed = true
		b.broadcast()
	}
	return nil
}

// Delete drops the job's buffer and wakes all waiters.
func (l *LiveLog) Delete(ctx context.Context, jobID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.jobs[jobID]
	if !ok {
		return notFound(jobID)
	}
	delete(l.jobs, jobID)
	close(b.changed)
	return nil
}

func notFound(jobID int64) error {
	return gaffer.Errorf(gaffer.ENOTFOUND, "no live log for job %d", jobID)
}
