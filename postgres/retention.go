package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// finishedJobs selects the jobs DeleteFinished may delete.
const finishedJobs = `status NOT IN ('queued', 'running')`

// DeleteFinished deletes up to limit finished jobs that finished before
// olderThan or are beyond the newest keepNewest, with their runs (ON DELETE
// CASCADE), lowest ids first, and returns the ids it deleted.
//
// Instances may sweep at once: the ids are chosen first, and the DELETE
// returns only the rows it removed itself (one another instance deleted
// meanwhile is skipped once that one commits), so no job is reported twice.
func (db *DB) DeleteFinished(ctx context.Context, olderThan time.Time, keepNewest, limit int) ([]int64, error) {
	if limit <= 0 || (olderThan.IsZero() && keepNewest <= 0) {
		return []int64{}, nil
	}
	// Each criterion walks its own index (finished_at; the ids), so a
	// sweep with nothing to delete reads next to nothing.
	var ids []int64
	if !olderThan.IsZero() {
		cutoff, err := nanos(olderThan)
		if err != nil {
			return nil, err
		}
		old, err := db.queryIDs(ctx, `SELECT id FROM jobs WHERE finished_at < $1 AND `+finishedJobs+`
			ORDER BY finished_at LIMIT $2`, cutoff, limit)
		if err != nil {
			return nil, fmt.Errorf("query old jobs: %w", err)
		}
		ids = append(ids, old...)
	}
	if keepNewest > 0 {
		extra, err := db.queryIDs(ctx, `SELECT id FROM jobs WHERE `+finishedJobs+` AND id <= (
				SELECT id FROM jobs WHERE `+finishedJobs+` ORDER BY id DESC LIMIT 1 OFFSET $1)
			ORDER BY id LIMIT $2`, keepNewest, limit)
		if err != nil {
			return nil, fmt.Errorf("query jobs beyond the newest %d: %w", keepNewest, err)
		}
		ids = append(ids, extra...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	ids = ids[:min(len(ids), limit)]
	if len(ids) == 0 {
		return []int64{}, nil
	}
	deleted, err := db.queryIDs(ctx, `DELETE FROM jobs WHERE id = ANY($1) AND `+finishedJobs+` RETURNING id`, ids)
	if err != nil {
		return nil, fmt.Errorf("delete jobs: %w", err)
	}
	slices.Sort(deleted)
	return deleted, nil
}

// queryIDs returns the int64 values of the query's only column.
func (db *DB) queryIDs(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
