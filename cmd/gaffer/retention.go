package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// retentionBatch is how many jobs one DeleteFinished call deletes: each
// batch is one short transaction, so the store is never held for long.
const retentionBatch = 100

// maxAgeDays keeps an age in days within a time.Duration (about 292 years).
const maxAgeDays = int64(time.Duration(1<<63-1) / (24 * time.Hour))

// parseAge reads an age such as --retain's: whole days ("30d") or a Go
// duration ("12h", "90m", "1h30m"). It must be above zero.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || n == "" || n[0] == '+' {
			return 0, fmt.Errorf("%q: give whole days (30d) or a duration (12h, 90m)", s)
		}
		if days > maxAgeDays {
			return 0, fmt.Errorf("%q: give at most %dd", s, maxAgeDays)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: give whole days (30d) or a duration (12h, 90m)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: give an age above zero, such as 30d (leave the flag out to keep every job)", s)
	}
	return d, nil
}

// retention deletes finished jobs that are too old or beyond the newest
// Keep: their rows, then their archived logs and live buffers. Several
// instances sharing a store may sweep at once: the store hands each deleted
// job to one of them.
type retention struct {
	Store   gaffer.JobStore
	Archive *archive.Archive
	Live    gaffer.LiveLog
	Logger  *slog.Logger
	MaxAge  time.Duration // 0: no age limit
	Keep    int           // 0: no count limit
	Every   time.Duration
	Now     func() time.Time
	// Forget drops a deleted job from what this server keeps in memory.
	Forget func(id int64)

	deleted atomic.Int64
}

// Deleted is how many jobs this server deleted (gaffer_jobs_deleted_total).
func (r *retention) Deleted() int64 { return r.deleted.Load() }

// Run sweeps at once, then every r.Every, until ctx ends.
func (r *retention) Run(ctx context.Context) {
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		r.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes, batch by batch, every job past retention, and logs what it
// did. A job whose row is gone is a 404 everywhere; its files go next (a
// crash in between leaves files no job points to, never a job without its
// log that still lists).
func (r *retention) Sweep(ctx context.Context) int {
	start := time.Now()
	var olderThan time.Time
	if r.MaxAge > 0 {
		olderThan = r.Now().Add(-r.MaxAge)
	}
	var n, fileErrs int
	var err error
	for ctx.Err() == nil {
		var ids []int64
		if ids, err = r.Store.DeleteFinished(ctx, olderThan, r.Keep, retentionBatch); err != nil {
			break
		}
		for _, id := range ids {
			r.Forget(id)
			if e := r.Archive.Delete(id); e != nil {
				fileErrs++
				r.Logger.Warn("retention: deleting an archived log failed", "job", id, "err", e)
			}
			if e := r.Live.Delete(ctx, id); e != nil && gaffer.ErrorCode(e) != gaffer.ENOTFOUND && !errors.Is(e, context.Canceled) {
				r.Logger.Warn("retention: deleting a live buffer failed", "job", id, "err", e)
			}
		}
		n += len(ids)
		r.deleted.Add(int64(len(ids)))
		if len(ids) < retentionBatch {
			break
		}
	}
	attrs := []any{"deleted", n, "took", time.Since(start).Round(time.Millisecond)}
	if !olderThan.IsZero() {
		attrs = append(attrs, "finished_before", olderThan.UTC().Format(time.RFC3339))
	}
	if r.Keep > 0 {
		attrs = append(attrs, "keep_newest", r.Keep)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		r.Logger.Warn("retention sweep failed", append(attrs, "err", err)...)
	case n > 0 || fileErrs > 0:
		r.Logger.Info("retention sweep", attrs...)
	default:
		r.Logger.Debug("retention sweep", attrs...)
	}
	return n
}
