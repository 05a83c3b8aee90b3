package web

import (
	"context"

	"github.com/gaffer-dev/gaffer"
)

// logCursor reads a job's log forward, batch by batch, keeping the records
// that pass its filter and stopping before its bound. A filtered read goes
// through the archive's index (QueryLog) while that has matching records,
// so that ?host=web-1 does not read every other host's lines; once the
// archive has nothing more, the cursor skips past what the archive holds and
// reads the rest (a running job's live part) through ReadLog, filtering it.
type logCursor struct {
	jobs   JobService
	id     int64
	filter gaffer.LogFilter
	after  int64 // the last seq read, matching or not
	until  int64 // stop before this seq; 0: no bound
	ranged bool  // filtered reads go through QueryLog
	// system: a system record (a run started or ended) was read by the
	// last call, matching or not, so the job's status may have changed.
	system bool
	buf    []gaffer.Record // the matching records of a filtered read
	// read is the memory of the last ReadLog, for the next one to fill:
	// the records a read returns are encoded before the next read.
	read gaffer.ReadBuffer
	// follows: the caller waits (WaitLog) when a read finds nothing, and
	// WaitLog returns at once if there is more. servedHead: the ring's
	// last answer ended at its newest record. Then the next answer is
	// "nothing yet" without a read (encLog.next): a thousand viewers of a
	// busy job each made an empty read after every batch.
	follows, servedHead bool
	// lines, when set, is the memory of nextLines's reads.
	lines *gaffer.Lines
}

func newCursor(jobs JobService, id int64, filter gaffer.LogFilter, after int64) *logCursor {
	return &logCursor{jobs: jobs, id: id, filter: filter, after: after, ranged: !filter.Zero()}
}

// skip goes on after lost records (a *gaffer.GapError from next).
func (c *logCursor) skip(to int64) { c.after = to }

// next returns the next matching records, whether the cursor moved on
// (it read records, matching or not: read again at once), and whether the
// log ends with them. A *gaffer.GapError says records are lost: call skip.
func (c *logCursor) next(ctx context.Context) (recs []gaffer.Record, moved, end bool, err error) {
	c.system = false
	if c.until > 0 && c.after >= c.until-1 {
		return nil, false, true, nil
	}
	if c.ranged {
		recs, end, err := c.rangeRead(ctx)
		if err == nil && (len(recs) > 0 || end) {
			return recs, len(recs) > 0, end, nil
		}
		// Nothing matching in the archive yet (or the archive cannot
		// answer): skip what it holds, then read and filter the rest.
		c.ranged = false
		if err == nil {
			if sum, serr := c.jobs.LogSummary(ctx, c.id); serr == nil {
				// Read again: records archived between the read above and
				// the summary are below its LastSeq and must not be skipped.
				recs, end, err := c.rangeRead(ctx)
				if err == nil && (len(recs) > 0 || end) {
					c.ranged = true
					return recs, len(recs) > 0, end, nil
				}
				if err == nil && sum.LastSeq > c.after {
					c.after = sum.LastSeq
					if c.until > 0 && c.after >= c.until-1 {
						return nil, true, true, nil
					}
				}
			}
		}
	}
	from := c.after
	all, end, err := c.jobs.ReadLog(ctx, c.id, c.after, batchLimit, &c.read)
	if err != nil {
		return nil, false, false, err
	}
	if c.filter.Zero() {
		// Every record passes: the read's own slice, not a copy (a
		// Record moved is a write barrier for each of its pointers).
		k := len(all)
		for i := range all {
			if c.until > 0 && all[i].Seq >= c.until {
				k, end = i, true
				break
			}
			c.system = c.system || all[i].Stream == gaffer.System
		}
		if k > 0 {
			c.after = all[k-1].Seq
		}
		return all[:k], c.after != from, end, nil
	}
	out := c.buf[:0]
	for i := range all {
		if c.until > 0 && all[i].Seq >= c.until {
			end = true
			break
		}
		c.after = all[i].Seq
		c.system = c.system || all[i].Stream == gaffer.System
		if c.filter.Match(&all[i]) {
			out = append(out, all[i])
		}
	}
	c.buf = out
	return out, c.after != from, end, nil
}

// nextLines is next for a viewer of the whole log (no filter, no bound)
// as lines events: the records read go to c.lines, not a Record each.
func (c *logCursor) nextLines(ctx context.Context) (moved, end bool, err error) {
	c.system = false
	end, err = c.jobs.ReadLogLines(ctx, c.id, c.after, linesLimit, c.lines)
	if err != nil || c.lines.Len() == 0 {
		return false, end, err
	}
	c.after = c.lines.Last()
	for k := range c.lines.Spans {
		c.system = c.system || c.lines.Spans[k].Stream == gaffer.System
	}
	return true, end, nil
}

// linesLimit bounds a read of Lines by count; its bytes (gaffer.Lines.Full)
// bound it first unless lines are nearly empty.
const linesLimit = 4096

// rangeRead reads the next matching records from the archive.
func (c *logCursor) rangeRead(ctx context.Context) ([]gaffer.Record, bool, error) {
	recs, end, err := c.jobs.QueryLog(ctx, c.id, gaffer.LogRange{Filter: c.filter, After: c.after, Limit: batchLimit})
	if err != nil {
		return nil, false, err
	}
	for i := range recs {
		if c.until > 0 && recs[i].Seq >= c.until {
			recs, end = recs[:i], true
			break
		}
		c.after = recs[i].Seq
		c.system = c.system || recs[i].Stream == gaffer.System
	}
	return recs, end, nil
}

// startRange sets the cursor where the request's tail, before or since
// says the log starts. It returns the records of a tail or before page
// when one read gave them all (send those first; the range is done), or
// else how many matching records the range holds from the cursor on (-1:
// up to limit, or on to the end). Errors come before anything is sent.
func startRange(ctx context.Context, jobs JobService, p *logParams, c *logCursor) (first []gaffer.Record, count int, err error) {
	switch {
	case p.tail > 0 || p.before > 0:
		before, n := p.before, p.limit
		if p.tail > 0 {
			before, n = gaffer.TailSeq, p.tail
		}
		recs, start, count, err := readBack(ctx, jobs, c.id, p.filter, before, n)
		if err != nil || count == 0 {
			return nil, 0, err
		}
		if p.before > 0 {
			c.until = p.before
		}
		if recs != nil {
			c.after = recs[len(recs)-1].Seq
			return recs, 0, nil
		}
		c.after = start - 1
		return nil, count, nil
	case !p.since.IsZero():
		seq, err := jobs.SeqAt(ctx, c.id, p.since)
		if err != nil {
			return nil, 0, err
		}
		c.after = seq - 1
	}
	return nil, -1, nil
}

// readBack finds the last n records matching filter before seq `before`
// (gaffer.TailSeq: the end of the log), reading backward. When one read
// gives them all, it returns them; otherwise it keeps none and returns how
// many there are and the seq of the first, to be read forward: a tail of
// millions of records holds no more memory than one read.
func readBack(ctx context.Context, jobs JobService, id int64, filter gaffer.LogFilter, before int64, n int) (recs []gaffer.Record, start int64, count int, err error) {
	var firstPage []gaffer.Record
	cur := before
	for count < n {
		// One page at a time: a backward read's cost follows its Limit.
		page, _, err := jobs.QueryLog(ctx, id, gaffer.LogRange{Filter: filter, Before: cur, Limit: min(n-count, batchLimit)})
		if err != nil {
			return nil, 0, 0, err
		}
		if len(page) == 0 {
			break
		}
		if count == 0 {
			firstPage = page
		}
		count += len(page)
		cur = page[0].Seq
	}
	if count > 0 && count == len(firstPage) {
		return firstPage, firstPage[0].Seq, count, nil
	}
	return nil, cur, count, nil
}
