package sqlite

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// finishedJobs selects the jobs DeleteFinished may delete.
const finishedJobs = `status NOT IN ('queued', 'running')`

// DeleteFinished deletes up to limit finished jobs that finished before
// olderThan or are beyond the newest keepNewest, with their runs (ON DELETE
// CASCADE), lowest ids first, and returns their ids. One write transaction:
// a small limit keeps it short.
func (db *DB) DeleteFinished(ctx context.Context, olderThan time.Time, keepNewest, limit int) ([]int64, error) {
	if limit <= 0 || (olderThan.IsZero() && keepNewest <= 0) {
		return []int64{}, nil
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	// Each criterion walks its own index (finished_at; the ids), so a
	// sweep with nothing to delete reads next to nothing.
	var ids []int64
	if !olderThan.IsZero() {
		old, err := queryIDs(ctx, tx, `SELECT id FROM jobs WHERE finished_at < ? AND `+finishedJobs+`
			ORDER BY finished_at LIMIT ?`, formatTime(olderThan), limit)
		if err != nil {
			return nil, fmt.Errorf("query old jobs: %w", err)
		}
		ids = append(ids, old...)
	}
	if keepNewest > 0 {
		// The newest finished job not kept: it and every finished job
		// below it go.
		bound, err := queryIDs(ctx, tx, `SELECT id FROM jobs WHERE `+finishedJobs+`
			ORDER BY id DESC LIMIT 1 OFFSET ?`, keepNewest)
		if err != nil {
			return nil, fmt.Errorf("query jobs beyond the newest %d: %w", keepNewest, err)
		}
		if len(bound) > 0 {
			extra, err := queryIDs(ctx, tx, `SELECT id FROM jobs WHERE id <= ? AND `+finishedJobs+`
				ORDER BY id LIMIT ?`, bound[0], limit)
			if err != nil {
				return nil, fmt.Errorf("query jobs beyond the newest %d: %w", keepNewest, err)
			}
			ids = append(ids, extra...)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ids = ids[:min(len(ids), limit)]
	if len(ids) == 0 {
		return []int64{}, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id IN (`+placeholders(len(ids))+`)`, args...); err != nil {
		return nil, fmt.Errorf("delete jobs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return ids, nil
}
