package foreman

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// jobLog is the single writer of one job's log. It numbers records and
// writes each batch to the archive first, then to the live buffer, so a
// record that a reader can no longer find live is always in the archive.
// It never waits for readers.
type jobLog struct {
	jobID  int64
	aw     gaffer.ArchiveWriter
	live   gaffer.LiveLog
	stats  *Stats
	logger *slog.Logger

	mu         sync.Mutex
	seq        int64
	archiveErr error // first archive failure; the live log goes on regardless
	liveErr    error
}

// emit numbers and stores a batch. Framers call it, one batch per read chunk.
func (l *jobLog) emit(recs []gaffer.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for i := range recs {
		l.seq++
		recs[i].Seq = l.seq
		n += int64(len(recs[i].Data))
	}
	if l.archiveErr == nil {
		if err := l.aw.Write(recs); err != nil {
			l.archiveErr = err
			l.stats.ArchiveErrors.Add(1)
			l.logger.Error("archive write failed; the log goes on live only", "job", l.jobID, "err", err)
		}
	}
	if err := l.live.Append(context.Background(), l.jobID, recs); err != nil && l.liveErr == nil {
		l.liveErr = err
		l.logger.Error("live log append failed", "job", l.jobID, "err", err)
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

// system adds a line of the server's own (connecting, exit status, errors).
func (l *jobLog) system(host, text string) {
	l.emit([]gaffer.Record{{TS: time.Now().UTC(), Host: host, Stream: gaffer.System, Data: []byte(text), NL: true}})
}

// sync makes what was written so far durable: called when a run ends.
func (l *jobLog) sync() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.archiveErr == nil {
		if err := l.aw.Sync(); err != nil {
			l.archiveErr = err
			l.logger.Error("archive sync failed", "job", l.jobID, "err", err)
		}
	}
}

func (l *jobLog) complete() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.archiveErr != nil {
		l.aw.Close()
		return l.archiveErr
	}
	return l.aw.Complete()
}

// ReadLog returns up to limit records after seq `after`, from the live buffer
// while it holds them and from the archive otherwise, and whether the log is
// complete with nothing after them.
func (f *Foreman) ReadLog(ctx context.Context, id int64, after int64, limit int) ([]gaffer.Record, bool, error) {
	if after < 0 {
		after = 0
	}
	recs, end, err := f.cfg.Live.Read(ctx, id, after, limit)
	switch gaffer.ErrorCode(err) {
	case "":
		return recs, end, nil
	case gaffer.ETRIMMED, gaffer.ENOTFOUND:
	default:
		return nil, false, err
	}
	recs, end, err = f.cfg.Archive.Read(ctx, id, after, limit)
	if err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		return nil, false, err
	}
	if len(recs) > 0 || end {
		return recs, end, nil
	}
	// Nothing more in an archive that was never completed (the server that
	// ran the job died): the log ends there once the job is over.
	job, jerr := f.Job(ctx, id)
	if jerr != nil {
		return nil, false, jerr
	}
	return nil, job.Status.Done(), nil
}

// WaitLog blocks until records after `after` may be there, the log ends, or
// ctx is done. It may return early; callers read again and wait again.
func (f *Foreman) WaitLog(ctx context.Context, id int64, after int64) error {
	err := f.cfg.Live.Wait(ctx, id, after)
	if gaffer.ErrorCode(err) == gaffer.ENOTFOUND {
		// No live buffer: the job is over, or runs elsewhere. Poll gently.
		t := time.NewTimer(250 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	return err
}

// RawLog writes the exact bytes one host wrote to one stream.
func (f *Foreman) RawLog(ctx context.Context, id int64, host string, stream gaffer.Stream, w io.Writer) error {
	if _, err := f.Job(ctx, id); err != nil {
		return err
	}
	return f.cfg.Archive.Raw(ctx, id, host, stream, w)
}
