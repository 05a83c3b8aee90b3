package foreman

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// jobLog is the single writer of one job's log. It numbers records and
// writes each batch to the archive, the source of truth, then queues it for
// the live buffer, so a record that a reader can no longer find live is in
// the archive (unless writing the archive failed: then the log is
// incomplete, and readers are told which records are lost). It never waits
// for readers, nor on the live log beyond a short bound.
type jobLog struct {
	jobID  int64
	aw     gaffer.ArchiveWriter
	live   *liveAppender
	alerts *alerter  // nil without alert rules
	retain *retainer // nil without a window (Job.Retain)
	stats  *Stats
	logger *slog.Logger

	syncs groupSync

	mu         sync.Mutex
	seq        int64
	archiveErr error // first archive failure; the live log goes on regardless
	finished   bool
	// changed is closed and replaced when readers waiting on this
	// instance may find more (see wait).
	changed chan struct{}
}

func newJobLog(jobID int64, aw gaffer.ArchiveWriter, live gaffer.LiveLog, stats *Stats, logger *slog.Logger) *jobLog {
	l := &jobLog{jobID: jobID, aw: aw, stats: stats, logger: logger, changed: make(chan struct{})}
	l.live = newLiveAppender(live, jobID, logger, l.notify)
	return l
}

func (l *jobLog) notify() {
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// emit numbers and stores a batch. Framers call it, one batch per read chunk.
func (l *jobLog) emit(recs []gaffer.Record) {
	l.mu.Lock()
	var n int64
	for i := range recs {
		l.seq++
		recs[i].Seq = l.seq
		n += int64(len(recs[i].Data))
	}
	l.alerts.apply(recs)
	archived := false
	if l.archiveErr == nil {
		if err := l.aw.Write(recs); err != nil {
			l.archiveErr = err
			l.stats.ArchiveErrors.Add(1)
			l.logger.Error("archive write failed; the rest of the log is kept live only, and the job will fail", "job", l.jobID, "from_seq", recs[0].Seq, "err", err)
		} else {
			archived = true
			l.retain.wrote(n)
		}
	}
	l.live.push(recs)
	l.mu.Unlock()
	// Readers wait for the live log: an in-process one has the records
	// now; while one lags, the archive is news.
	if l.live.direct || archived && !l.live.healthy() {
		l.notify()
	}
	l.stats.Records.Add(int64(len(recs)))
	l.stats.Bytes.Add(n)
}

// failed reports whether writing the archive failed.
func (l *jobLog) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.archiveErr != nil
}

// lost says, for a person, why records are missing from the archive; ""
// if nothing is.
func (l *jobLog) lost() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.archiveErr == nil {
		return ""
	}
	// The system's reason alone ("file too large"): the rest of the
	// message (paths) is the server's business.
	var errno syscall.Errno
	if errors.As(l.archiveErr, &errno) {
		return "the log archive could not be written (" + errno.Error() + ")"
	}
	return "the log archive could not be written"
}

// system adds a line of the server's own (connecting, exit status, errors).
func (l *jobLog) system(host, text string) {
	l.emit([]gaffer.Record{{TS: time.Now().UTC(), Host: host, Stream: gaffer.System, Data: []byte(text), NL: true}})
}

// sync makes what was written so far durable: called when a run ends.
// Runs that end together share one sync (groupsync.go), made outside mu
// so that the other runs' output goes on meanwhile (the writer is safe
// for concurrent use).
func (l *jobLog) sync() {
	l.syncs.wait(func() {
		if l.failed() {
			return
		}
		if err := l.aw.Sync(); err != nil {
			l.mu.Lock()
			if l.archiveErr == nil {
				l.archiveErr = err
			}
			l.mu.Unlock()
			l.logger.Error("archive sync failed", "job", l.jobID, "err", err)
		}
	})
}

// complete completes the archive. On failure (now or earlier) it releases
// the writer and returns the error: the archived log is incomplete.
func (l *jobLog) complete() error {
	l.retain.close(true) // not under mu: a trim may log a line
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.archiveErr == nil {
		if err := l.aw.Complete(); err != nil {
			l.archiveErr = err
		}
	}
	if l.archiveErr != nil {
		l.aw.Close()
	}
	return l.archiveErr
}

// finish hands the last records to the live log and closes it (waiting a
// short while at most), then wakes this instance's readers for good. It
// reports whether the live log took everything and was closed in time.
func (l *jobLog) finish() bool {
	l.retain.close(false)
	ok := l.live.close(liveCloseWait)
	l.mu.Lock()
	l.finished = true
	l.mu.Unlock()
	l.notify()
	return ok
}

// wait blocks until a reader that has everything up to `after` may find
// more: the live log took records after it, or the live log is not keeping
// up and the archive has them; or the log ended, or ctx is done.
func (l *jobLog) wait(ctx context.Context, after int64) error {
	for {
		// The channel first: any change after this closes it.
		l.mu.Lock()
		ch, seq, archiveOK, finished := l.changed, l.seq, l.archiveErr == nil, l.finished
		l.mu.Unlock()
		if finished || l.live.last() > after || archiveOK && seq > after && !l.live.healthy() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Reading logs: the live buffer first, the archive for what it no longer
// (or does not yet) hold. Neither is trusted blindly: live records must
// start right after `after`, and any live error sends the reader to the
// archive. Records that neither has are reported as a *gaffer.GapError,
// never skipped silently, and the log never ends before them.
const (
	// liveReadTimeout bounds one read of the live log: a viewer would
	// rather read the archive than wait on a slow Redis.
	liveReadTimeout = time.Second
	// liveReadPause is how long readers leave a failing live log alone.
	liveReadPause = time.Second
	// pollInterval spaces out waits that have nothing to wait on.
	pollInterval = 250 * time.Millisecond
)

var errLiveSkipped = errors.New("the live log is not keeping up; reading the archive")

// ReadLog returns up to limit records after seq `after`, from the live buffer
// while it holds them and from the archive otherwise, and whether the log is
// complete with nothing after them. If records after `after` are lost (the
// archive could not be written and the live buffer dropped them), it
// returns a *gaffer.GapError saying which; the reader goes on after them.
// buf, when not nil, may hold the records returned and their data (see
// gaffer.ReaderInto): a reader going through a log passes the same buffer
// to each read.
func (f *Foreman) ReadLog(ctx context.Context, id int64, after int64, limit int, buf *gaffer.ReadBuffer) ([]gaffer.Record, bool, error) {
	r := recordRead{limit: limit, buf: buf}
	end, err := f.readLog(ctx, id, after, &r)
	return r.recs, end, err
}

// ReadLogLines is ReadLog into l (gaffer.Lines), which holds the records
// read (none on an error): a viewer of lines events reads the log this way,
// without a Record per line, from stores that can (gaffer.LinesReader).
func (f *Foreman) ReadLogLines(ctx context.Context, id int64, after int64, limit int, l *gaffer.Lines) (bool, error) {
	return f.readLog(ctx, id, after, &linesRead{limit: limit, l: l})
}

// readLog is ReadLog into r.
func (f *Foreman) readLog(ctx context.Context, id int64, after int64, r logRead) (bool, error) {
	after = f.keptAfter(id, max(after, 0))
	first, end, lerr := f.readLive(ctx, id, after, r)
	// next is the first seq after `after` that the live buffer holds, when
	// that is past a hole.
	var next int64
	var te *gaffer.TrimmedError
	switch {
	case lerr == nil && first == after+1:
		return end, nil
	case lerr == nil && first > 0:
		next = first
	case lerr == nil:
		// Nothing more yet, or the end. (A live log that lags is not
		// read: see readLive.)
		return end, nil
	case errors.As(lerr, &te):
		next = te.First
	case ctx.Err() != nil:
		r.reset()
		return false, ctx.Err()
	}

	afirst, aend, aerr := r.from(ctx, f.cfg.Archive, id, after)
	if aerr != nil && gaffer.ErrorCode(aerr) != gaffer.ENOTFOUND {
		r.reset()
		return false, aerr
	}
	if afirst > 0 {
		// An archive cut short by a failure ends before the live buffer's
		// records: those come next, after the gap.
		return aend && next <= r.last(), nil
	}
	r.reset()
	if next > after+1 {
		return false, &gaffer.GapError{From: after + 1, To: next - 1, Why: f.lostWhy(id)}
	}
	if aend || gaffer.ErrorCode(lerr) != gaffer.ENOTFOUND {
		// Complete; or nothing more yet; or the live log is unreachable
		// and the reader tries again.
		return aend, nil
	}
	// No live buffer and nothing more in an archive that was never
	// completed (the server that ran the job died): the log ends there
	// once the job is over.
	job, jerr := f.Job(ctx, id)
	if jerr != nil {
		return false, jerr
	}
	return job.Status.Done(), nil
}

// readLive reads the live log into r within liveReadTimeout (an
// in-process one needs no bound), unless it is known not to keep up: this
// instance's own appender for the job lags, or did not close it when the
// job ended, or a read failed within the last liveReadPause.
func (f *Foreman) readLive(ctx context.Context, id int64, after int64, r logRead) (first int64, end bool, err error) {
	if aj := f.activeJob(id); aj != nil && !aj.log.live.healthy() {
		return 0, false, errLiveSkipped
	} else if _, ok := f.liveUnclosed.Load(id); ok {
		return 0, false, errLiveSkipped
	}
	if time.Now().UnixNano() < f.liveDownUntil.Load() {
		return 0, false, errLiveSkipped
	}
	rctx := ctx
	if _, inProcess := f.cfg.Live.(gaffer.InProcessLiveLog); !inProcess {
		// (An in-process read never waits: no timer for each of them,
		// which a thousand viewers make after every batch.)
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, liveReadTimeout)
		defer cancel()
	}
	first, end, err = r.from(rctx, f.cfg.Live, id, after)
	if gaffer.ErrorCode(err) == gaffer.EINTERNAL && ctx.Err() == nil {
		if prev := f.liveDownUntil.Swap(time.Now().Add(liveReadPause).UnixNano()); time.Now().UnixNano() >= prev {
			f.log.Warn("live log read failed; readers use the archive for a while", "job", id, "err", err)
		}
	}
	return first, end, err
}

// logStore is what ReadLog reads: the live log or the archive.
type logStore interface {
	Read(ctx context.Context, jobID int64, after int64, limit int) ([]gaffer.Record, bool, error)
}

// logRead is one kind of read of a log into the reader's memory.
type logRead interface {
	// from reads s after `after`, replacing what the read held, and
	// returns the seq of the first record read (0: none).
	from(ctx context.Context, s logStore, id, after int64) (first int64, end bool, err error)
	last() int64 // the seq of the last record read
	reset()      // the read holds nothing
}

// recordRead reads Records, into buf where the store can
// (gaffer.ReaderInto) and buf is not nil.
type recordRead struct {
	limit int
	buf   *gaffer.ReadBuffer
	recs  []gaffer.Record
}

func (r *recordRead) from(ctx context.Context, s logStore, id, after int64) (int64, bool, error) {
	var end bool
	var err error
	if ri, ok := s.(gaffer.ReaderInto); ok && r.buf != nil {
		r.recs, end, err = ri.ReadInto(ctx, id, after, r.limit, r.buf)
	} else {
		r.recs, end, err = s.Read(ctx, id, after, r.limit)
	}
	if len(r.recs) == 0 {
		return 0, end, err
	}
	return r.recs[0].Seq, end, err
}

func (r *recordRead) last() int64 { return r.recs[len(r.recs)-1].Seq }
func (r *recordRead) reset()      { r.recs = nil }

// linesRead reads into l: through gaffer.LinesReader where the store is
// one, else its Records into l.
type linesRead struct {
	limit int
	l     *gaffer.Lines
}

func (r *linesRead) from(ctx context.Context, s logStore, id, after int64) (int64, bool, error) {
	var end bool
	var err error
	if lr, ok := s.(gaffer.LinesReader); ok {
		end, err = lr.ReadLines(ctx, id, after, r.limit, r.l)
	} else {
		var recs []gaffer.Record
		recs, end, err = s.Read(ctx, id, after, r.limit)
		r.l.Reset()
		r.l.AddRecords(recs)
	}
	if err != nil || r.l.Len() == 0 {
		r.l.Reset()
		return 0, end, err
	}
	return r.l.Spans[0].Seq, end, nil
}

func (r *linesRead) last() int64 { return r.l.Last() }
func (r *linesRead) reset()      { r.l.Reset() }

// lostWhy says why the archive lacks records of job id, if this instance
// knows.
func (f *Foreman) lostWhy(id int64) string {
	if aj := f.activeJob(id); aj != nil {
		return aj.log.lost()
	}
	return ""
}

func (f *Foreman) activeJob(id int64) *activeJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active[id]
}

// WaitLog blocks until records after `after` may be there, the log ends, or
// ctx is done. It may return early; callers read again and wait again.
func (f *Foreman) WaitLog(ctx context.Context, id int64, after int64) error {
	if aj := f.activeJob(id); aj != nil {
		// This instance writes the log: its own progress wakes readers,
		// whatever the state of the live log.
		return aj.log.wait(ctx, after)
	}
	err := f.cfg.Live.Wait(ctx, id, after)
	if err == nil || ctx.Err() != nil {
		return err
	}
	// No live buffer (the job is over, or runs elsewhere), or the live log
	// is unreachable: poll gently.
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// RawLog writes the exact bytes one host wrote to one stream.
func (f *Foreman) RawLog(ctx context.Context, id int64, host string, stream gaffer.Stream, w io.Writer) error {
	if _, err := f.Job(ctx, id); err != nil {
		return err
	}
	return f.cfg.Archive.Raw(ctx, id, host, stream, w)
}
