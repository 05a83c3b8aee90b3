package archive

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// SearchTimeout bounds one Search; it then stops with Done false, to be
// continued from ScannedTo.
var SearchTimeout = 10 * time.Second

// Search calls emit with each record after q.After whose data matches q
// (gaffer.SearchQuery.Compile decides), in seq order, as it scans.
func (a *Archive) Search(ctx context.Context, jobID int64, q gaffer.SearchQuery, emit func(*gaffer.Record) error) (gaffer.SearchResult, error) {
	re, err := q.Compile()
	if err != nil {
		return gaffer.SearchResult{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = gaffer.DefaultSearchLimit
	}
	limit = min(limit, gaffer.MaxSearchLimit)
	lf, err := a.open(jobID)
	if err != nil {
		return gaffer.SearchResult{}, err
	}
	defer lf.close()
	var v sdxView
	if !q.Filter.Zero() {
		if v, err = a.streamIndex(jobID, lf); err != nil {
			return gaffer.SearchResult{}, err
		}
	}
	after := min(max(q.After, 0), math.MaxInt64-1)
	off, err := lf.seek(after + 1)
	if err != nil {
		return gaffer.SearchResult{}, fmt.Errorf("search log of job %d: %w", jobID, err)
	}
	deadline := time.Now().Add(SearchTimeout)
	res := gaffer.SearchResult{ScannedTo: after}
	c := newCursor(lf, off, q.Filter, &v)
	var names names
	for i := 0; ; i++ {
		if i%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return res, err
			} else if time.Now().After(deadline) {
				return res, nil
			}
		}
		f, ok, err := c.next()
		if err != nil {
			return res, fmt.Errorf("search log of job %d: %w", jobID, err)
		} else if !ok {
			res.Done = true
			return res, nil
		} else if f.seq <= after {
			continue
		}
		if re.Match(f.data) {
			rec := f.record(&names)
			if err := emit(&rec); err != nil {
				return res, err
			}
			res.Matches++
		}
		res.ScannedTo = f.seq
		if res.Matches >= limit {
			return res, nil
		}
	}
}
