package foreman

import (
	"context"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Reading a large log anywhere (range reads, time lookup, summary,
// search): answered from the archive, which every instance shares and
// which holds every record before the live buffer does. Each method checks
// that the job exists (ENOTFOUND otherwise) and treats a job without an
// archive yet (queued) as one with an empty log.

// noArchive reports whether err only says that the archive holds nothing
// for the job yet.
func noArchive(err error) bool { return gaffer.ErrorCode(err) == gaffer.ENOTFOUND }

// QueryLog reads a range of a job's log (see gaffer.LogRange). For a
// forward read, end reports that the log is complete with nothing matching
// after the records returned.
func (f *Foreman) QueryLog(ctx context.Context, id int64, r gaffer.LogRange) ([]gaffer.Record, bool, error) {
	job, err := f.Job(ctx, id)
	if err != nil {
		return nil, false, err
	}
	recs, end, err := f.cfg.Archive.ReadRange(ctx, id, r)
	if noArchive(err) {
		// Nothing was ever written: the log is empty, and complete once
		// the job is over (it failed before it started).
		return nil, r.Before <= 0 && job.Status.Done(), nil
	}
	if err != nil {
		return nil, false, err
	}
	return recs, end, nil
}

// SeqAt returns the seq of the first record of the job's log stamped at or
// after t, or the last seq + 1 if there is none (1 for an empty log).
func (f *Foreman) SeqAt(ctx context.Context, id int64, t time.Time) (int64, error) {
	if _, err := f.Job(ctx, id); err != nil {
		return 0, err
	}
	seq, err := f.cfg.Archive.SeqAt(ctx, id, t)
	if noArchive(err) {
		return 1, nil
	}
	return seq, err
}

// LogSummary describes the job's log. Complete only when the job is over
// and its archived log is whole: a running job's log still grows.
func (f *Foreman) LogSummary(ctx context.Context, id int64) (*gaffer.LogSummary, error) {
	job, err := f.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	sum, err := f.cfg.Archive.Summary(ctx, id)
	if noArchive(err) {
		sum, err = &gaffer.LogSummary{}, nil
	}
	if err != nil {
		return nil, err
	}
	sum.Complete = sum.Complete && job.Status.Done()
	if sum.Streams == nil {
		sum.Streams = []gaffer.StreamSummary{}
	}
	return sum, nil
}

// SearchLog searches the job's log as archived now, calling emit with each
// match in seq order (see gaffer.LogReader.Search).
func (f *Foreman) SearchLog(ctx context.Context, id int64, q gaffer.SearchQuery, emit func(*gaffer.Record) error) (gaffer.SearchResult, error) {
	if _, err := f.Job(ctx, id); err != nil {
		return gaffer.SearchResult{}, err
	}
	if _, err := q.Compile(); err != nil {
		return gaffer.SearchResult{}, err
	}
	res, err := f.cfg.Archive.Search(ctx, id, q, emit)
	if noArchive(err) {
		return gaffer.SearchResult{Done: true, ScannedTo: q.After}, nil
	}
	return res, err
}
