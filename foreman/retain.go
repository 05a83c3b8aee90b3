package foreman

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// trimInterval spaces out the trims of a retained log when little is
// written; a quarter of its window written since the last trim asks for one
// sooner.
var trimInterval = 10 * time.Second

// createArchive opens the job's archived log: one that can drop its oldest
// part when the job keeps a window of its history (Job.Retain) and the
// archive can do that; an ordinary one otherwise.
func (f *Foreman) createArchive(ctx context.Context, job *gaffer.Job) (gaffer.ArchiveWriter, gaffer.Retention, error) {
	keep, err := gaffer.ParseRetention(job.Retain)
	if err != nil || keep.Zero() {
		aw, err := f.cfg.Archive.Create(ctx, job.ID)
		return aw, gaffer.Retention{}, err
	}
	ar, ok := f.cfg.Archive.(gaffer.ArchiveRetainer)
	if !ok {
		f.log.Warn("the log archive cannot drop old history; the job keeps all of it", "job", job.ID, "retain", job.Retain)
		aw, err := f.cfg.Archive.Create(ctx, job.ID)
		return aw, gaffer.Retention{}, err
	}
	aw, err := ar.CreateRetained(ctx, job.ID, keep)
	return aw, keep, err
}

// retainer trims one job's archived log to its window, off the capture
// path: the archive's writer waits for a trim only while it picks the
// segments to drop. The live buffer has a bound of its own.
type retainer struct {
	log  *jobLog
	tr   gaffer.ArchiveTrimmer
	keep gaffer.Retention
	text string // the job's "retain", for the log line
	// dropped is told the oldest seq kept after each trim that dropped
	// some: readers skip to it (see keptAfter).
	dropped func(first int64)

	written atomic.Int64 // data bytes written since the last trim
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	first   int64 // oldest seq kept; 0 while nothing was dropped
}

// startRetainer starts trimming l's archive, if it has a window and its
// writer can drop history; nil otherwise.
func startRetainer(l *jobLog, keep gaffer.Retention, text string, dropped func(first int64)) *retainer {
	tr, ok := l.aw.(gaffer.ArchiveTrimmer)
	if keep.Zero() || !ok {
		return nil
	}
	r := &retainer{log: l, tr: tr, keep: keep, text: text, dropped: dropped,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// wrote counts bytes archived; it never blocks.
func (r *retainer) wrote(n int64) {
	if r == nil {
		return
	}
	if r.keep.Bytes > 0 && r.written.Add(n) >= r.keep.Bytes/4 {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

func (r *retainer) run() {
	defer close(r.done)
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		case <-r.kick:
		}
		r.trim()
	}
}

// trim drops what the window no longer holds. The first time history goes,
// a system line says so: viewers then know why the log starts later.
func (r *retainer) trim() {
	r.written.Store(0)
	first, err := r.tr.Trim(r.keep, time.Now())
	if err != nil {
		r.log.logger.Warn("could not drop old history from the log archive", "job", r.log.jobID, "err", err)
		return
	}
	if r.first == 0 && first > 0 {
		r.log.logger.Info("job log drops old history", "job", r.log.jobID, "retain", r.text, "first_seq", first)
		r.log.system("", fmt.Sprintf("the log keeps its last %s: records before %d are dropped, and older ones as it grows", r.text, first))
	}
	r.first = first
	if first > 0 {
		r.dropped(first)
	}
}

// keptAfter moves a read that starts before the oldest record a retained
// log keeps to that record. The live buffer has a bound of its own and may
// hold older records than the archive: a viewer then still sees the same
// log from either.
func (f *Foreman) keptAfter(id, after int64) int64 {
	if v, ok := f.kept.Load(id); ok {
		return max(after, v.(int64)-1)
	}
	return after
}

// close stops trimming and waits for a trim under way; with final, it then
// trims once more, so that the log the job leaves keeps just its window.
// Only the first call does anything; the archive must still be open then.
func (r *retainer) close(final bool) {
	if r == nil {
		return
	}
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		if final {
			r.trim()
		}
	})
}

// trimmed reports whether history was dropped; call it after close.
func (r *retainer) trimmed() bool { return r != nil && r.first > 0 }
