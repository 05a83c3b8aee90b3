// Package memory implements gaffer.LiveLog in the server's memory: for each
// running job it keeps a bounded tail of the log and wakes readers when
// records arrive. Older records are dropped; readers asking for them get
// ETRIMMED and read the archive instead.
//
// Records are held packed, not as gaffer.Record values: a short line costs
// its bytes plus 16, where a Record and its own data allocation cost over a
// hundred. The limits count every byte the buffers allocate, so they bound
// the memory really held: per job, and for all jobs together.
package memory

import (
	"context"
	"math"
	"slices"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/gaffer-dev/gaffer"
)

// DefaultMaxBytes bounds one job's buffer when NewLiveLog is given no limit.
const DefaultMaxBytes = 8 << 20

// DefaultBudget bounds all buffers together when NewLiveLog is given none:
// eight jobs with large outputs keep their whole DefaultMaxBytes.
const DefaultBudget = 64 << 20

// DefaultReadLimit is the number of records Read returns when limit <= 0.
const DefaultReadLimit = 1000

// What holding records costs besides their data, counted against the limits.
const (
	metaSize = int(unsafe.Sizeof(meta{}))
	// A segment's header (56 bytes in a 64-byte size class) and its slot
	// in buffer.segs, which has room to grow.
	segOverhead = 80
	// A (host, stream) pair: its slot in buffer.srcs and its map entry.
	srcOverhead = 64

	// Segments grow from minSegBytes to maxSegBytes as output keeps coming,
	// so a quiet job holds little and a busy one is trimmed in steps that
	// are small beside its limit.
	minSegBytes = 1 << 10
	maxSegBytes = 64 << 10
)

// noTime stands for the zero time.Time in meta.ts.
const noTime = math.MinInt64

// Ensure LiveLog implements the interface.
var _ gaffer.InProcessLiveLog = (*LiveLog)(nil)

// LiveLog is an in-memory gaffer.LiveLog. The zero value is not usable; call
// NewLiveLog.
type LiveLog struct {
	maxBytes int // per job
	budget   int // all jobs
	segBytes int // largest segment, but for a single larger record

	mu    sync.RWMutex
	jobs  map[int64]*buffer
	total int // sum of the buffers' sizes
}

// buffer is the tail of one job's log: segments of consecutive records,
// oldest first, holding seqs first..last.
type buffer struct {
	segs   []*segment
	size   int   // bytes allocated for segs and srcs
	first  int64 // seq of the oldest record held; last+1 when none is
	last   int64 // seq of the newest record ever appended; 0 before any
	closed bool
	// changed is closed and replaced on every Append, Close and Delete, so
	// any number of waiters wake at once without per-reader queues.
	changed chan struct{}

	// srcs are the (host, stream, file) of the records, which meta.src
	// points into: a job has a few per host, not one per record.
	srcs    []source
	srcIdx  map[source]uint32
	lastSrc uint32

	// spares are segments trim dropped, for newSegment to fill again: a
	// buffer at its limit then allocates nothing. They hold at most an
	// eighth of the limit (spareBytes), counted in size. Reads copy
	// records out, so no reader holds their bytes.
	spares     []*segment
	spareBytes int
}

type source struct {
	host   string
	stream gaffer.Stream
	file   string // a follow job's file; empty for command output
}

// segment holds consecutive records, seqs first, first+1, …: their data back
// to back in data, the rest in meta. Its capacities are fixed when it is
// made, so its size never changes.
type segment struct {
	first int64
	data  []byte
	meta  []meta
}

type meta struct {
	ts  int64  // Unix ns, or noTime
	end uint32 // end of the record's data in segment.data; it starts where the previous one ends
	src uint32 // index in buffer.srcs << 2 | srcAlert | srcNL
}

// Flags in meta.src's low bits.
const (
	srcNL    = 1
	srcAlert = 2
)

func (s *segment) bytes() int { return segOverhead + cap(s.data) + cap(s.meta)*metaSize }

func (s *segment) fits(r *gaffer.Record) bool {
	return len(s.meta) < cap(s.meta) && len(s.data)+len(r.Data) <= cap(s.data)
}

// InProcess marks the LiveLog as in the server's memory: Append never
// waits on I/O.
func (*LiveLog) InProcess() {}

// NewLiveLog returns a LiveLog that holds at most maxBytes per job, or
// DefaultMaxBytes when maxBytes <= 0, and at most budget bytes for all jobs
// together, or DefaultBudget when budget <= 0. Over the budget, the largest
// buffers lose their oldest records first. The newest records of a job are
// always kept, even when they alone are larger.
func NewLiveLog(maxBytes, budget int) *LiveLog {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if budget <= 0 {
		budget = DefaultBudget
	}
	seg := min(maxSegBytes, max(maxBytes/16, 256), maxBytes)
	return &LiveLog{maxBytes: maxBytes, budget: budget, segBytes: seg, jobs: make(map[int64]*buffer)}
}

// Create starts an empty live log for a job. ECONFLICT if it already exists.
func (l *LiveLog) Create(ctx context.Context, jobID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.jobs[jobID]; ok {
		return gaffer.Errorf(gaffer.ECONFLICT, "live log for job %d already exists", jobID)
	}
	l.jobs[jobID] = &buffer{first: 1, changed: make(chan struct{}), srcIdx: make(map[source]uint32)}
	return nil
}

// Append adds records whose seqs continue the log: last+1, last+2, …, or
// skip ahead of it (the buffer then starts again there). The whole batch is
// rejected with EINVALID if its seqs go back or are not consecutive, or if
// the log is closed. It never waits for readers.
func (l *LiveLog) Append(ctx context.Context, jobID int64, recs []gaffer.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.jobs[jobID]
	if !ok {
		return notFound(jobID)
	} else if b.closed {
		return gaffer.Errorf(gaffer.EINVALID, "live log for job %d is closed", jobID)
	}
	if len(recs) == 0 {
		return nil
	}
	first := recs[0].Seq
	if first <= b.last {
		first = b.last + 1
	}
	for i := range recs {
		if want := first + int64(i); recs[i].Seq != want {
			return gaffer.Errorf(gaffer.EINVALID, "live log for job %d: record seq %d, want %d", jobID, recs[i].Seq, want)
		} else if uint64(len(recs[i].Data)) > math.MaxUint32 {
			return gaffer.Errorf(gaffer.EINVALID, "live log for job %d: record %d holds %d bytes", jobID, recs[i].Seq, len(recs[i].Data))
		}
	}
	size := b.size
	if first > b.last+1 {
		b.skipTo(first)
	}
	b.put(recs, l.segBytes)
	b.trim(l.maxBytes)
	l.total += b.size - size
	if l.total > l.budget {
		l.trimBudget()
	}
	b.broadcast()
	return nil
}

// put copies recs into the newest segment while they fit, and into new
// segments after it.
func (b *buffer) put(recs []gaffer.Record, segBytes int) {
	var s *segment
	if len(b.segs) > 0 {
		s = b.segs[len(b.segs)-1]
	}
	// The source and time of the record before: those of a batch's
	// records are looked up and converted once.
	var prev *gaffer.Record
	var src uint32
	var ts int64
	for i := range recs {
		r := &recs[i]
		if s == nil || !s.fits(r) {
			s = b.newSegment(recs[i:], segBytes)
		}
		if prev == nil || !r.SameSource(prev) {
			src = b.source(source{r.Host, r.Stream, r.File}) << 2
		}
		if prev == nil || r.TS != prev.TS {
			ts = noTime
			if !r.TS.IsZero() {
				ts = r.TS.UnixNano()
			}
		}
		prev = r
		flags := src
		if r.NL {
			flags |= srcNL
		}
		if r.Alert {
			flags |= srcAlert
		}
		s.data = append(s.data, r.Data...)
		s.meta = append(s.meta, meta{ts: ts, end: uint32(len(s.data)), src: flags})
		b.last = r.Seq
	}
}

// newSegment appends a segment sized for the records of rest that fit in
// one: twice the size of the one before, up to segBytes, and never less
// than the first record needs. Room left after rest is shared out by the
// mean size of its records, for the batches that follow.
func (b *buffer) newSegment(rest []gaffer.Record, segBytes int) *segment {
	prev := 0
	if len(b.segs) > 0 {
		prev = b.segs[len(b.segs)-1].bytes()
	}
	room := min(segBytes, max(2*prev, min(minSegBytes, segBytes))) - segOverhead
	n, data := 0, 0
	for i := range rest {
		need := len(rest[i].Data) + metaSize
		if n > 0 && data+n*metaSize+need > room {
			break
		}
		n, data = n+1, data+len(rest[i].Data)
	}
	if spare := room - data - n*metaSize; spare > 0 {
		mean := data / n
		more := spare / (mean + metaSize)
		n, data = n+more, data+more*mean
	}
	s := b.reuse(room, n, data, len(rest[0].Data))
	if s == nil {
		// Grow, unlike make, rounds the capacities up to the size the
		// allocator really gives, so they are counted and usable.
		s = &segment{data: slices.Grow([]byte(nil), data), meta: slices.Grow([]meta(nil), n)}
		b.size += s.bytes()
	}
	s.first = rest[0].Seq
	b.segs = append(b.segs, s)
	return s
}

// source returns the index of k in srcs, adding it if new.
func (b *buffer) source(k source) uint32 {
	if int(b.lastSrc) < len(b.srcs) && b.srcs[b.lastSrc] == k {
		return b.lastSrc
	}
	i, ok := b.srcIdx[k]
	if !ok {
		i = uint32(len(b.srcs))
		b.srcs = append(b.srcs, k)
		b.srcIdx[k] = i
		b.size += srcOverhead + len(k.host) + len(k.stream) + len(k.file)
	}
	b.lastSrc = i
	return i
}

// reuse returns a spare segment, emptied, if it is not far bigger than
// room (the allocator rounds sizes up) and shaped for records like these
// (n of them, data bytes in all, the first firstLen): at least half the
// room wanted for each part. Otherwise it lets the spare go and returns nil.
func (b *buffer) reuse(room, n, data, firstLen int) *segment {
	if len(b.spares) == 0 {
		return nil
	}
	s := b.spares[len(b.spares)-1]
	b.spares[len(b.spares)-1] = nil
	b.spares = b.spares[:len(b.spares)-1]
	b.spareBytes -= s.bytes()
	if s.bytes() > 2*(room+segOverhead) || cap(s.data) < max(data/2, firstLen) || cap(s.meta) < max(n/2, 1) {
		b.size -= s.bytes()
		return nil
	}
	s.data, s.meta = s.data[:0], s.meta[:0]
	return s
}

// trim drops the oldest segments until the buffer, spares aside, fits
// maxBytes less an eighth for the spares, keeping the newest segment
// whatever its size. Dropped segments become spares while they fit in
// that eighth.
func (b *buffer) trim(maxBytes int) {
	spareMax := maxBytes / 8
	for b.size-b.spareBytes > maxBytes-spareMax && len(b.segs) > 1 {
		b.dropOldest(spareMax)
	}
}

// dropOldest drops the oldest segment and returns the bytes it gave back:
// none when it became a spare, which it does if the spares stay within
// spareMax.
func (b *buffer) dropOldest(spareMax int) int {
	s := b.segs[0]
	// Shifted down, not resliced: appends then reuse the array.
	b.segs = slices.Delete(b.segs, 0, 1)
	if len(b.segs) > 0 {
		b.first = b.segs[0].first
	} else {
		b.first = b.last + 1
	}
	if b.spareBytes+s.bytes() <= spareMax {
		b.spares = append(b.spares, s)
		b.spareBytes += s.bytes()
		return 0
	}
	b.size -= s.bytes()
	return s.bytes()
}

// dropSpares lets the spare segments go and returns their size.
func (b *buffer) dropSpares() int {
	n := b.spareBytes
	clear(b.spares)
	b.spares = b.spares[:0]
	b.spareBytes = 0
	b.size -= n
	return n
}

// trimBudget drops the spares and oldest segments of the largest buffers
// until all buffers fit the budget together, or each holds only its newest
// segment. It looks at every job per segment dropped: there are few running
// jobs, and a segment is a chunk of output, not a line.
func (l *LiveLog) trimBudget() {
	for l.total > l.budget {
		var largest *buffer
		for _, b := range l.jobs {
			if (len(b.segs) > 1 || b.spareBytes > 0) && (largest == nil || b.size > largest.size) {
				largest = b
			}
		}
		if largest == nil {
			return
		}
		if largest.spareBytes > 0 {
			l.total -= largest.dropSpares()
		} else {
			l.total -= largest.dropOldest(0)
		}
	}
}

// skipTo drops every record held and makes seq the next one: the writer
// skipped the records in between (they are in the archive).
func (b *buffer) skipTo(seq int64) {
	for _, s := range b.segs {
		b.size -= s.bytes()
	}
	clear(b.segs)
	b.segs = b.segs[:0]
	b.first, b.last = seq, seq-1
}

func (b *buffer) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// ownData gives recs, records j0, j0+1, … of s, a copy of their data in
// buf's memory: the segment may be filled again after a trim. Their data
// lie one after the other in the segment, so one copy of that span serves
// them all.
func ownData(s *segment, j0 int, recs []gaffer.Record, buf *gaffer.ReadBuffer) {
	if len(recs) == 0 {
		return
	}
	lo := uint32(0)
	if j0 > 0 {
		lo = s.meta[j0-1].end
	}
	own := buf.CopyData(s.data[lo:s.meta[j0+len(recs)-1].end])
	start := uint32(0)
	for k := range recs {
		end := s.meta[j0+k].end - lo
		recs[k].Data = own[start:end:end]
		start = end
	}
}

// record rebuilds record j of s. Its Data shares the segment's array,
// which a trim may give to new records: Read copies it out.
func (b *buffer) record(s *segment, j int) gaffer.Record {
	m := s.meta[j]
	start := uint32(0)
	if j > 0 {
		start = s.meta[j-1].end
	}
	src := b.srcs[m.src>>2]
	r := gaffer.Record{Seq: s.first + int64(j), Host: src.host, Stream: src.stream, File: src.file,
		Data: s.data[start:m.end:m.end], NL: m.src&srcNL != 0, Alert: m.src&srcAlert != 0}
	if m.ts != noTime {
		r.TS = time.Unix(0, m.ts).UTC()
	}
	return r
}

// Read returns up to limit (DefaultReadLimit when <= 0) records with seq >
// after, stopping after the one whose Size brings the total to
// gaffer.MaxReadBytes. end is true when the log is closed and nothing follows them.
// ETRIMMED if the record after `after` was dropped, ENOTFOUND if there is no
// such job.
func (l *LiveLog) Read(ctx context.Context, jobID int64, after int64, limit int) ([]gaffer.Record, bool, error) {
	return l.ReadInto(ctx, jobID, after, limit, new(gaffer.ReadBuffer))
}

// ReadInto is Read into buf's memory (gaffer.ReaderInto).
func (l *LiveLog) ReadInto(ctx context.Context, jobID int64, after int64, limit int, buf *gaffer.ReadBuffer) ([]gaffer.Record, bool, error) {
	limit, after = readBounds(limit, after)
	l.mu.RLock()
	defer l.mu.RUnlock()
	b, i, done, end, err := l.locate(jobID, after)
	if done {
		return nil, end, err
	}
	next := after + 1
	// Room for what is there, up to what the byte bound allows at the
	// size of this segment's records: one allocation, not a chain of
	// copies as the slice grows.
	s := b.segs[i]
	recs := buf.Recs[:0]
	if n := min(int64(limit), b.last-after, int64(gaffer.ReadRoom(len(s.data)/max(len(s.meta), 1)))); int64(cap(recs)) < n {
		recs = make([]gaffer.Record, 0, n)
	}
	buf.Data = buf.Data[:0]
	size := 0
	for ; i < len(b.segs) && len(recs) < limit && size < gaffer.MaxReadBytes; i++ {
		s := b.segs[i]
		j0, k0 := int(next-s.first), len(recs)
		for j := j0; j < len(s.meta) && len(recs) < limit && size < gaffer.MaxReadBytes; j++ {
			recs = append(recs, b.record(s, j))
			size += recs[len(recs)-1].Size()
			next++
		}
		ownData(s, j0, recs[k0:], buf)
	}
	buf.Recs = recs
	return recs, b.closed && next-1 == b.last, nil
}

// ReadLines is Read into ln (gaffer.LinesReader): a Begin where the
// source or time changes, an Add per record, no Record made.
func (l *LiveLog) ReadLines(ctx context.Context, jobID int64, after int64, limit int, ln *gaffer.Lines) (bool, error) {
	limit, after = readBounds(limit, after)
	ln.Reset()
	l.mu.RLock()
	defer l.mu.RUnlock()
	b, i, done, end, err := l.locate(jobID, after)
	if done {
		return end, err
	}
	next := after + 1
	src, ts := ^uint32(0), int64(0)
	for ; i < len(b.segs) && ln.Len() < limit && !ln.Full(); i++ {
		s := b.segs[i]
		start := uint32(0)
		if j := int(next - s.first); j > 0 {
			start = s.meta[j-1].end
		}
		for j := int(next - s.first); j < len(s.meta) && ln.Len() < limit && !ln.Full(); j++ {
			m := s.meta[j]
			if m.src>>2 != src || m.ts != ts {
				src, ts = m.src>>2, m.ts
				var t time.Time
				if ts != noTime {
					t = time.Unix(0, ts).UTC()
				}
				c := b.srcs[src]
				ln.Begin(next, t, c.host, c.stream, c.file)
			}
			ln.Add(s.data[start:m.end], m.src&srcNL != 0, m.src&srcAlert != 0)
			start = m.end
			next++
		}
	}
	return b.closed && next-1 == b.last, nil
}

// readBounds are a read's limit (DefaultReadLimit for none) and after.
func readBounds(limit int, after int64) (int, int64) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	return limit, max(after, 0)
}

// locate finds the records after `after` of job jobID: its buffer and the
// index of the segment holding the first, or done with what a read
// returns when there is none (the end, or an error). l.mu held.
func (l *LiveLog) locate(jobID, after int64) (b *buffer, seg int, done, end bool, err error) {
	b, ok := l.jobs[jobID]
	switch {
	case !ok:
		return nil, 0, true, false, notFound(jobID)
	case after+1 < b.first:
		return nil, 0, true, false, &gaffer.TrimmedError{JobID: jobID, After: after, First: b.first}
	case after >= b.last:
		return nil, 0, true, b.closed, nil
	}
	// The segment holding after+1: the last one starting at or before it.
	return b, sort.Search(len(b.segs), func(i int) bool { return b.segs[i].first > after+1 }) - 1, false, false, nil
}

// Wait blocks until a record with seq > after exists, the log is closed or
// deleted, or ctx is done (returning ctx.Err()). ENOTFOUND if there is no
// such job when Wait is called.
func (l *LiveLog) Wait(ctx context.Context, jobID int64, after int64) error {
	for {
		l.mu.RLock()
		b, ok := l.jobs[jobID]
		if !ok {
			l.mu.RUnlock()
			return notFound(jobID)
		} else if b.last > after || b.closed {
			l.mu.RUnlock()
			return nil
		}
		changed := b.changed
		l.mu.RUnlock()

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}

		// Deleted while we waited: that is a wake-up, not an error; the
		// reader's next Read gets ENOTFOUND and turns to the archive.
		l.mu.RLock()
		_, ok = l.jobs[jobID]
		l.mu.RUnlock()
		if !ok {
			return nil
		}
	}
}

// Close marks the log complete and wakes all waiters. Closing twice is fine.
func (l *LiveLog) Close(ctx context.Context, jobID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.jobs[jobID]
	if !ok {
		return notFound(jobID)
	} else if !b.closed {
		b.closed = true
		b.broadcast()
	}
	return nil
}

// Delete drops the job's buffer and wakes all waiters.
func (l *LiveLog) Delete(ctx context.Context, jobID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.jobs[jobID]
	if !ok {
		return notFound(jobID)
	}
	delete(l.jobs, jobID)
	l.total -= b.size
	close(b.changed)
	return nil
}

// Held returns how many jobs have a buffer and the bytes all buffers hold.
func (l *LiveLog) Held() (jobs, bytes int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.jobs), l.total
}

func notFound(jobID int64) error {
	return gaffer.Errorf(gaffer.ENOTFOUND, "no live log for job %d", jobID)
}
