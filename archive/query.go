package archive

import (
	"context"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Range reads, time lookup, summary and search (gaffer.LogReader).
// TODO(issue 8): implemented by the archive-query work; stubs so the tree builds.

var errTODO = gaffer.Errorf(gaffer.EUNAVAILABLE, "not implemented yet")

func (a *Archive) ReadRange(ctx context.Context, jobID int64, r gaffer.LogRange) ([]gaffer.Record, bool, error) {
	return nil, false, errTODO
}

func (a *Archive) SeqAt(ctx context.Context, jobID int64, t time.Time) (int64, error) {
	return 0, errTODO
}

func (a *Archive) Summary(ctx context.Context, jobID int64) (*gaffer.LogSummary, error) {
	return nil, errTODO
}

func (a *Archive) Search(ctx context.Context, jobID int64, q gaffer.SearchQuery, emit func(*gaffer.Record) error) (gaffer.SearchResult, error) {
	return gaffer.SearchResult{}, errTODO
}
