package archive

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Range reads, time lookup and summary (gaffer.LogReader); Search is in
// search.go.

// ReadRange reads a range of the log (see gaffer.LogRange). A forward read
// costs a seek (O(log n) index entries, at most IndexEvery-1 records plus
// those before the entry's in its frame) plus
// the records returned; with a filter, also up to a gap (see
// streamindex.go) of records per selected stream between jumps (see
// cursor). A backward read reads the records before Before in windows
// that start at an index entry or a stream index entry, read forward with
// the cursor: usually one window of about Limit selected records, a few
// more (doubling) for a stream that comes in bursts; wherever they are in
// the log. A log without stream index (written before it) is scanned for
// a filtered read, from the seek or in doubling windows backward. For
// either direction, end reports that the log is complete and that nothing
// the filter selects follows the last record returned (for a backward
// read: nothing at or after Before).
func (a *Archive) ReadRange(ctx context.Context, jobID int64, r gaffer.LogRange) ([]gaffer.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	limit := r.Limit
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	lf, err := a.open(jobID)
	if err != nil {
		return nil, false, err
	}
	defer lf.close()
	var v sdxView
	if !r.Filter.Zero() {
		if v, err = a.streamIndex(jobID, lf); err != nil {
			return nil, false, err
		}
	}
	var (
		recs []gaffer.Record
		end  bool
	)
	if r.Before > 0 {
		recs, end, err = a.readBack(lf, &v, r.Filter, r.Before, limit)
	} else {
		recs, end, err = a.readForward(lf, &v, r.Filter, r.After, limit)
	}
	if err != nil {
		return nil, false, fmt.Errorf("read log of job %d: %w", jobID, err)
	}
	return recs, end, nil
}

// readForward reads up to limit selected records with seq > after.
func (a *Archive) readForward(lf *logFile, v *sdxView, filter gaffer.LogFilter, after int64, limit int) ([]gaffer.Record, bool, error) {
	// Seqs start at 1; the bounds keep after+1 from overflowing.
	after = min(max(after, 0), math.MaxInt64-1)
	off, err := lf.seek(after + 1)
	if err != nil {
		return nil, false, err
	}
	c := newCursor(lf, off, filter, v)
	defer c.close()
	var (
		recs  []gaffer.Record
		size  int
		names names
	)
	for {
		f, ok, err := c.next()
		if err != nil {
			return nil, false, err
		} else if !ok {
			return recs, lf.complete, nil
		} else if f.seq <= after {
			continue
		} else if len(recs) >= limit || size >= gaffer.MaxReadBytes {
			return recs, false, nil // one more follows
		}
		recs = append(recs, f.record(&names))
		size += recs[len(recs)-1].Size()
	}
}

// readBack reads the last limit selected records with seq < before.
func (a *Archive) readBack(lf *logFile, v *sdxView, filter gaffer.LogFilter, before int64, limit int) ([]gaffer.Record, bool, error) {
	end := lf.complete
	if before != gaffer.TailSeq && lf.complete {
		// Anything selected at or after before? One forward step says.
		more, _, err := a.readForward(lf, v, filter, before-1, 1)
		if err != nil {
			return nil, false, err
		}
		end = len(more) == 0
	}

	var (
		out  [][]gaffer.Record // windows, newest first
		size int
		need = limit
		span = int64(limit) // of a window without a stream index
	)
	for need > 0 && size < gaffer.MaxReadBytes && before > 1 {
		lo, ok, err := a.window(lf, v, filter, before, need, span)
		if err != nil {
			return nil, false, err
		} else if !ok {
			break
		}
		span *= 2
		recs, err := lastInWindow(lf, v, filter, lo, before, need)
		if err != nil {
			return nil, false, err
		}
		// Keep the newest that fit.
		i := len(recs)
		for i > 0 && size < gaffer.MaxReadBytes {
			i--
			size += recs[i].Size()
		}
		out = append(out, recs[i:])
		need -= len(recs) - i
		if lo.off <= lf.start || lo.seq >= before {
			break
		}
		before = lo.seq
	}
	var recs []gaffer.Record
	for i := len(out) - 1; i >= 0; i-- {
		recs = append(recs, out[i]...)
	}
	return recs, end, nil
}

// window returns where to start reading for the last need selected records
// before `before`: a frame whose seq is below it (or the first frame); ok
// is false when the stream index says there is none.
func (a *Archive) window(lf *logFile, v *sdxView, filter gaffer.LogFilter, before int64, need int, span int64) (lo entry, ok bool, err error) {
	if !v.serves(filter) {
		// Seqs have no gaps as the server writes them: the index entry at
		// or before `before`-need starts a window that holds them all. Without a
		// stream index, a filtered read widens its windows as it goes back.
		if !filter.Zero() {
			need = int(min(span, math.MaxInt32))
		}
		lo, err := lf.seekEntry(max(before-int64(need), 1))
		return lo, err == nil, err
	}
	// For each selected stream, the latest entry with at least need of its
	// records from there to `before`; the window starts at the latest of
	// them, and the cursor finds every selected record inside it.
	lo = entry{seq: -1}
	for _, id := range v.streams(filter) {
		i, ok := v.before(id, before)
		if !ok {
			continue
		}
		es := v.ents[id][:i+1]
		// Records from entry i to before: at least the entry; all the
		// stream's records after it when before is past the last mark and
		// that mark holds the totals (a complete log's tail).
		known := int64(1)
		if i == len(v.ents[id])-1 && before > v.mark.seq && v.tmark == v.mark {
			known = v.totals[id].records - es[i].ord
		}
		bound := es[i].ord + known - int64(need)
		j := sort.Search(len(es), func(j int) bool { return es[j].ord > bound }) - 1
		j = max(j, 0)
		if es[j].seq > lo.seq {
			lo = entry{seq: es[j].seq, off: es[j].off}
		}
	}
	if before > v.mark.seq+1 && lo.seq < 0 {
		// Only the records the index does not describe yet.
		return entry{seq: v.mark.seq + 1, off: max(v.tailOff(), lf.start)}, true, nil
	} else if lo.seq < 0 {
		return lo, false, nil
	} else if lo.off < lf.start {
		lo = entry{off: lf.start} // trimmed: the first frame kept
	}
	// A stream's entries may be StreamEvery of its records apart: start
	// nearer, at an index entry, if the selected records are dense enough
	// for need of them to be there on average (span: need, doubled at each
	// window). The window is exact from any frame; if it holds too few (a
	// stream that comes in bursts), the next one goes on from its start.
	var sel, all int64
	for id, t := range v.totals {
		all += t.records
		if v.names[id].selectedBy(filter) {
			sel += t.records
		}
	}
	if sel > 0 {
		est := min(span, math.MaxInt32) * (all/sel + 1)
		if e, err := lf.seekEntry(max(before-est, 1)); err != nil {
			return entry{}, false, err
		} else if e.seq > lo.seq && e.seq < before {
			lo = e
		}
	}
	return lo, true, nil
}

// lastInWindow returns the last need selected records with lo.seq <= seq
// < before, reading from the frame at lo.off (which may hold records
// before lo.seq: the window before this one has them).
func lastInWindow(lf *logFile, v *sdxView, filter gaffer.LogFilter, lo entry, before int64, need int) ([]gaffer.Record, error) {
	c := newCursor(lf, lo.off, filter, v)
	defer c.close()
	ring := make([]gaffer.Record, 0, min(need, 4096))
	n := 0 // records seen; ring[n%need] is the oldest once full
	var names names
	for {
		f, ok, err := c.next()
		if err != nil {
			return nil, err
		} else if !ok || f.seq >= before {
			break
		} else if f.seq < lo.seq {
			continue
		}
		if len(ring) < need {
			ring = append(ring, f.record(&names))
		} else {
			ring[n%need] = f.record(&names)
		}
		n++
	}
	if n <= need {
		return ring, nil
	}
	k := n % need
	return append(ring[k:len(ring):len(ring)], ring[:k]...), nil
}

// SeqAt returns the seq of the first record stamped at or after t: it
// bisects the index entries (every IndexEvery-th record) by the TS of their
// records, then scans from the last entry stamped before t to the first
// record stamped at or after t; the last seq + 1 if there is none. When TS
// never decrease through the log this is exactly the first record with
// TS >= t; as records are only nearly in time order (stamped at capture,
// numbered later), a record stamped slightly out of order near the answer
// may be on either side of it. Records without a TS count as before any t.
// It reads O(log n) entries and at most 2×IndexEvery records, plus those
// in the frames of the entries.
func (a *Archive) SeqAt(ctx context.Context, jobID int64, t time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	lf, err := a.open(jobID)
	if err != nil {
		return 0, err
	}
	defer lf.close()
	want := t.UnixNano()
	if t.Before(time.Unix(0, math.MinInt64+1)) {
		want = math.MinInt64 + 1
	} else if t.After(time.Unix(0, math.MaxInt64)) {
		want = math.MaxInt64
	}
	r := newFrameReader(lf.log, lf.start)
	defer r.release()
	// Entries before the first frame kept (a trimmed log) point at nothing.
	lo, err := lf.firstKeptEntry()
	if err != nil {
		return 0, fmt.Errorf("find time in log of job %d: %w", jobID, err)
	}
	i := lo + sort.Search(int(lf.entries)-lo, func(i int) bool {
		i += lo
		e, ok, rerr := lf.entry(int64(i))
		if rerr != nil {
			err = rerr
		}
		if !ok || err != nil {
			return true
		}
		r.reset(lf.log, e.off)
		f, ok, rerr := r.next()
		if rerr != nil {
			err = rerr
		}
		return !ok || f.ts >= want && f.ts != 0
	})
	if err != nil {
		return 0, fmt.Errorf("find time in log of job %d: %w", jobID, err)
	}
	start := lf.start
	if i > lo {
		e, _, err := lf.entry(int64(i - 1))
		if err != nil {
			return 0, fmt.Errorf("find time in log of job %d: %w", jobID, err)
		}
		start = e.off
	}
	r.reset(lf.log, start)
	var last int64
	for {
		f, ok, err := r.next()
		if err != nil {
			return 0, fmt.Errorf("find time in log of job %d: %w", jobID, err)
		} else if !ok {
			return last + 1, nil
		} else if f.ts >= want && f.ts != 0 {
			return f.seq, nil
		}
		last = f.seq
	}
}

// Summary describes the log: the stream index's totals at its last mark
// with totals plus a scan of the records after it (about TotalsEvery at
// most, and none for a complete log). A log without a stream index is scanned whole.
// FirstTS and LastTS are those of the first and last records.
func (a *Archive) Summary(ctx context.Context, jobID int64) (*gaffer.LogSummary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lf, err := a.open(jobID)
	if err != nil {
		return nil, err
	}
	defer lf.close()
	v, err := a.streamIndex(jobID, lf)
	if err != nil {
		return nil, err
	}
	sum := &gaffer.LogSummary{Complete: lf.complete, Streams: []gaffer.StreamSummary{}}
	totals := map[sname]*stotal{}
	if v.tmark.off < lf.start {
		// Trimmed past the index's last totals (or it has none): count
		// what is kept.
		v.tmark = smark{}
	}
	for id, n := range v.names {
		if v.tmark.off == 0 {
			break
		}
		t := v.totals[id]
		if lf.start > headerSize {
			t = keptTotals(&v, id, lf.start)
		}
		if t.records > 0 {
			totals[n] = &t
		}
	}
	sum.LastSeq = v.tmark.seq
	lastTS := v.tmark.ts

	r := newFrameReader(lf.log, max(v.tmark.off, lf.start))
	defer r.release()
	for i := 0; ; i++ {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		b, ok, err := r.nextBlock()
		if err != nil {
			return nil, fmt.Errorf("summarize log of job %d: %w", jobID, err)
		} else if !ok {
			break
		} else if b.last() <= v.tmark.seq {
			continue
		}
		b.skipTo(v.tmark.seq + 1)
		key := sname{string(b.host), string(b.stream), string(b.file)}
		t := totals[key]
		if t == nil {
			t = &stotal{}
			totals[key] = t
		}
		records, bytes := b.rest()
		t.records += int64(records)
		t.bytes += int64(bytes)
		sum.LastSeq, lastTS = b.last(), b.ts
	}
	if sum.LastSeq > 0 {
		r.reset(lf.log, lf.start)
		f, ok, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("summarize log of job %d: %w", jobID, err)
		} else if ok {
			sum.FirstTS = tsPtr(f.ts)
			if lf.start > headerSize {
				sum.FirstSeq = f.seq
			}
		}
		sum.LastTS = tsPtr(lastTS)
	}
	for n, t := range totals {
		sum.Streams = append(sum.Streams, gaffer.StreamSummary{Host: n.host, Stream: gaffer.Stream(n.stream), File: n.file, Records: t.records, Bytes: t.bytes})
	}
	sort.Slice(sum.Streams, func(i, j int) bool {
		x, y := sum.Streams[i], sum.Streams[j]
		if c := strings.Compare(x.Host, y.Host); c != 0 {
			return c < 0
		} else if x.Stream != y.Stream {
			return x.Stream < y.Stream
		}
		return x.File < y.File
	})
	return sum, nil
}

// keptTotals returns what stream id holds at the index's last totals
// from the frame at start on, in a trimmed log: its first record in the
// first segment kept is an entry (see segment.go), whose ord and bytes
// count what went before. A stream without an entry from there has
// nothing kept up to the index's last mark.
func keptTotals(v *sdxView, id int, start int64) stotal {
	t, es := v.totals[id], v.ents[id]
	j := sort.Search(len(es), func(j int) bool { return es[j].off >= start })
	if j == len(es) {
		return stotal{}
	}
	return stotal{records: max(t.records-es[j].ord, 0), bytes: max(t.bytes-es[j].bytes, 0)}
}

func tsPtr(ts int64) *time.Time {
	if ts == 0 {
		return nil
	}
	t := time.Unix(0, ts).UTC()
	return &t
}
