package web

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gaffer-dev/gaffer"
)

// The shared encoded log: a job's records as SSE (and NDJSON) bytes,
// encoded once per instance and written by every unfiltered viewer at that
// position, so that a viewer costs a write of a slice rather than a JSON
// encoding per record. Each job that unfiltered viewers follow has a ring
// of chunks in seq order, each chunk what one ReadLog returned, encoded;
// the viewer that first reads past the ring's end reads and encodes the
// next chunk (the others wait for it: one read per chunk, not per viewer).
// Filtered viewers, ranged reads, and viewers behind the ring read and
// encode the log themselves, as without the ring; a viewer ahead of it (a
// new tail, or after a gap) moves the ring to where it is.
//
// The chunks are the same reads a viewer would make, and their bytes what
// writeEvent writes: a stream is byte for byte what it would be without the
// ring (TestSharedEncodingIsByteForByte).

const (
	// encodeJobBytes bounds one job's ring: at 1 000 lines/s of 150 bytes
	// of SSE each, about a minute of log for viewers that fall behind.
	encodeJobBytes = 8 << 20
	// encodeTotalBytes bounds all rings of the instance: past it a job
	// keeps only its newest chunk.
	encodeTotalBytes = 256 << 20
	// encodeMinViewers: a job's lone viewer reads as it always did (no
	// chunk to allocate and keep); the ring starts with the second.
	encodeMinViewers = 2
)

// encodeCache holds the rings of the jobs this instance's viewers follow.
type encodeCache struct {
	mu    sync.Mutex
	jobs  map[int64]*encLog
	total atomic.Int64 // bytes of all rings
	// minViewers overrides encodeMinViewers when > 0 (tests).
	minViewers int
	off        bool // no ring: every viewer encodes (tests compare)
}

// acquire returns job id's ring, counting the caller as one of its
// viewers until release; nil when the cache is off.
func (c *encodeCache) acquire(id int64) *encLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off {
		return nil
	}
	if c.jobs == nil {
		c.jobs = map[int64]*encLog{}
	}
	l := c.jobs[id]
	if l == nil {
		min := encodeMinViewers
		if c.minViewers > 0 {
			min = c.minViewers
		}
		l = &encLog{cache: c, id: id, minViewers: int64(min)}
		c.jobs[id] = l
	}
	l.viewers.Add(1)
	return l
}

// release drops the ring with its last viewer: a job nobody follows here
// holds no memory, and one that ended is never read live again.
func (c *encodeCache) release(l *encLog) {
	if l == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.viewers.Add(-1) > 0 {
		return
	}
	delete(c.jobs, l.id)
	l.mu.Lock()
	c.total.Add(-int64(l.bytes))
	l.chunks, l.bytes = nil, 0
	l.mu.Unlock()
}

// encLog is one job's ring.
type encLog struct {
	cache      *encodeCache
	id         int64
	viewers    atomic.Int64
	minViewers int64

	mu      sync.RWMutex
	started bool  // base is set
	base    int64 // the seq before the first chunk's
	head    int64 // the last seq the ring holds (base when empty)
	ended   bool  // the log is complete at head
	chunks  []*encChunk
	bytes   int
	// filling is closed when the viewer reading past head is done.
	filling chan struct{}

	status encStatus // encstatus.go
}

// encChunk is one read of the log, encoded.
type encChunk struct {
	first, last int64
	lastSystem  int64 // seq of its last system record; 0: none
	end         bool  // the log is complete with it
	sse         []byte
	// off[i] is where record first+i's event starts in sse (off[n]:
	// len(sse)); js[i] where its JSON starts, which ends 2 bytes before
	// the next event.
	off, js []int32

	ndOnce sync.Once
	nd     []byte
	ndOff  []int32

	// Its lines events (batch=1 viewers), as runs of records: texts holds
	// each record's text as JSON and a comma, tx[i] where record i's
	// starts (tx[n]: the end).
	runs  []encRun
	texts []byte
	tx    []int32
}

// encRun is a run of a chunk's records that go into one lines event
// (gaffer.LinesRun).
type encRun struct {
	from, to int    // records [from, to) of the chunk
	head     []byte // gaffer.JSONEncoder.AppendLinesHead
	nl       bool   // of its last record
	alert    bool
}

// bytes is what the chunk holds, for the ring's bounds.
func (c *encChunk) bytes() int { return len(c.sse) + len(c.texts) }

// encSpan is the records [from, to) of a chunk (indexes), read from the
// ring; the zero span is none.
type encSpan struct {
	c        *encChunk
	from, to int
}

func (s encSpan) n() int { return s.to - s.from }

// lastSeq is the seq of the span's last record.
func (s encSpan) lastSeq() int64 { return s.c.first + int64(s.to) - 1 }

// sse is the span's line events, as writeEvent writes them.
func (s encSpan) sse() []byte {
	if s.c == nil {
		return nil
	}
	return s.c.sse[s.c.off[s.from]:s.c.off[s.to]]
}

// appendLines appends the span's records as lines events, as
// appendLinesEvents writes them but for where runs end: at a chunk's end
// here, at a read's end there.
func (s encSpan) appendLines(b []byte) []byte {
	c := s.c
	for k := range c.runs {
		r := &c.runs[k]
		from, to := max(r.from, s.from), min(r.to, s.to)
		if from >= to {
			continue
		}
		b = append(b, linesEventHead+`{"seq":`...)
		b = strconv.AppendInt(b, c.first+int64(from), 10)
		b = append(b, r.head...)
		b = append(b, c.texts[c.tx[from]:c.tx[to]-1]...) // less the last comma
		b = gaffer.AppendLinesTail(b, to < r.to || r.nl, r.alert)
		b = appendLinesEventEnd(b, c.first+int64(to)-1)
	}
	return b
}

// ndjson is records [i, j) of the span (relative to it), one JSON object
// and a newline each.
func (s encSpan) ndjson(i, j int) []byte {
	if s.c == nil || i >= j {
		return nil
	}
	c := s.c
	c.ndOnce.Do(func() {
		n := len(c.off) - 1
		c.nd = make([]byte, 0, len(c.sse))
		c.ndOff = make([]int32, n+1)
		for k := 0; k < n; k++ {
			c.ndOff[k] = int32(len(c.nd))
			c.nd = append(c.nd, c.sse[c.js[k]:c.off[k+1]-2]...)
			c.nd = append(c.nd, '\n')
		}
		c.ndOff[n] = int32(len(c.nd))
	})
	return c.nd[c.ndOff[s.from+i]:c.ndOff[s.from+j]]
}

// next is logCursor.next for an unfiltered, unbounded cursor, through the
// ring: the records after c.after either as a span of the ring (sp) or,
// where the ring cannot serve them, as records for the caller to encode
// (recs), the cursor moved on past them either way. A nil ring (a
// filtered or bounded reader, or the cache off) reads as c.next does.
func (l *encLog) next(ctx context.Context, jobs JobService, c *logCursor) (sp encSpan, recs []gaffer.Record, moved, end bool, err error) {
	if !l.shared() {
		recs, moved, end, err = c.next(ctx)
		return
	}
	c.system = false
	for {
		l.mu.RLock()
		sp, state := l.find(c.after)
		head := l.head
		l.mu.RUnlock()
		served := c.servedHead
		c.servedHead = false
		switch state {
		case ringHas:
			c.after = sp.lastSeq()
			c.system = sp.c.lastSystem > sp.c.first+int64(sp.from)-1
			c.servedHead = c.after == head
			return sp, nil, true, sp.c.end, nil
		case ringEnded:
			return encSpan{}, nil, false, true, nil
		case ringBehind:
			recs, moved, end, err = c.next(ctx)
			return encSpan{}, recs, moved, end, err
		case ringHead:
			if served && c.follows {
				// Just given the newest records: the caller's WaitLog
				// finds out whether more came, without a read.
				return encSpan{}, nil, false, false, nil
			}
		}
		// At the ring's end or past it: read on, unless a viewer does.
		l.mu.Lock()
		if l.started && (c.after < l.head || c.after == l.head && l.ended) {
			l.mu.Unlock() // the ring moved on meanwhile
			continue
		}
		if ch := l.filling; ch != nil {
			l.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return encSpan{}, nil, false, false, ctx.Err()
			}
			continue
		}
		if !l.started || c.after > l.head {
			// Ahead of the ring (a new viewer at the log's end, viewers
			// after a gap): the ring starts again here; viewers behind
			// read by themselves until they reach it.
			l.reset(c.after)
		}
		ch := make(chan struct{})
		l.filling = ch
		l.mu.Unlock()
		sp, recs, moved, end, err = l.fill(ctx, jobs, c)
		l.mu.Lock()
		l.filling = nil
		close(ch)
		l.mu.Unlock()
		return sp, recs, moved, end, err
	}
}

// shared reports whether the job's viewers read through the ring: enough
// of them follow it.
func (l *encLog) shared() bool { return l != nil && l.viewers.Load() >= l.minViewers }

type ringState int

const (
	ringHas    ringState = iota // records after `after`
	ringEnded                   // the log ends at `after`
	ringHead                    // `after` is the ring's end (or the ring is empty)
	ringAhead                   // `after` is past the ring's end
	ringBehind                  // `after` is before the ring's start
)

// find locates the records after `after`; l.mu held.
func (l *encLog) find(after int64) (encSpan, ringState) {
	switch {
	case !l.started:
		return encSpan{}, ringHead
	case after == l.head && l.ended:
		return encSpan{}, ringEnded
	case after == l.head:
		return encSpan{}, ringHead
	case after > l.head:
		return encSpan{}, ringAhead
	case after < l.base:
		return encSpan{}, ringBehind
	}
	// The chunk holding after+1: the last one starting at or before it.
	lo, hi := 0, len(l.chunks)
	for lo < hi {
		m := (lo + hi) / 2
		if l.chunks[m].first <= after+1 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	c := l.chunks[lo-1]
	return encSpan{c: c, from: int(after + 1 - c.first), to: len(c.off) - 1}, ringHas
}

// reset empties the ring and starts it after seq `at`; l.mu held.
func (l *encLog) reset(at int64) {
	l.cache.total.Add(-int64(l.bytes))
	l.chunks, l.bytes = nil, 0
	l.started, l.base, l.head, l.ended = true, at, at, false
}

// fill reads the records after c.after (the ring's end) and adds them to
// the ring encoded. Records that do not follow on (a retention window's
// start moved past c.after) go to the caller to encode; errors (a gap, a
// failed read) too, the ring unchanged.
func (l *encLog) fill(ctx context.Context, jobs JobService, c *logCursor) (encSpan, []gaffer.Record, bool, bool, error) {
	from := c.after
	recs, end, err := jobs.ReadLog(ctx, l.id, from, batchLimit, &c.read)
	if err != nil {
		return encSpan{}, nil, false, false, err
	}
	if len(recs) == 0 {
		if end {
			l.mu.Lock()
			if l.head == from {
				l.ended = true
			}
			l.mu.Unlock()
		}
		return encSpan{}, nil, false, end, nil
	}
	for i := range recs {
		c.system = c.system || recs[i].Stream == gaffer.System
		if recs[i].Seq != from+1+int64(i) {
			c.after = recs[len(recs)-1].Seq
			return encSpan{}, recs, true, end, nil
		}
	}
	ch := encodeChunk(recs, end)
	c.after = ch.last
	c.servedHead = true
	l.mu.Lock()
	if l.head == from {
		l.chunks = append(l.chunks, ch)
		l.head, l.ended = ch.last, end
		l.bytes += ch.bytes()
		total := l.cache.total.Add(int64(ch.bytes()))
		// Drop the oldest chunks past the bounds, keeping the newest.
		drop := 0
		for drop < len(l.chunks)-1 && (l.bytes > encodeJobBytes || total > encodeTotalBytes) {
			n := l.chunks[drop].bytes()
			l.bytes -= n
			total = l.cache.total.Add(-int64(n))
			l.base = l.chunks[drop].last
			l.chunks[drop] = nil
			drop++
		}
		l.chunks = l.chunks[drop:]
	}
	l.mu.Unlock()
	return encSpan{c: ch, from: 0, to: len(recs)}, nil, true, end, nil
}

// encodeChunk encodes consecutive records as line events.
func encodeChunk(recs []gaffer.Record, end bool) *encChunk {
	ch := &encChunk{first: recs[0].Seq, last: recs[len(recs)-1].Seq, end: end,
		off: make([]int32, len(recs)+1), js: make([]int32, len(recs))}
	b := make([]byte, 0, len(recs)*(64+len(recs[0].Data)))
	var enc gaffer.JSONEncoder
	for i := range recs {
		r := &recs[i]
		if r.Stream == gaffer.System {
			ch.lastSystem = r.Seq
		}
		ch.off[i] = int32(len(b))
		var js int
		b, js = appendLineEvent(b, &enc, r)
		ch.js[i] = int32(js)
	}
	ch.off[len(recs)] = int32(len(b))
	ch.sse = b
	encodeRuns(ch, recs)
	return ch
}

// encodeRuns encodes the chunk's records as runs of lines events.
func encodeRuns(ch *encChunk, recs []gaffer.Record) {
	var enc gaffer.JSONEncoder
	ch.tx = make([]int32, len(recs)+1)
	ch.texts = make([]byte, 0, len(ch.sse)/4)
	for i := 0; i < len(recs); {
		n := gaffer.LinesRun(recs[i:])
		ch.runs = append(ch.runs, encRun{from: i, to: i + n, head: enc.AppendLinesHead(nil, &recs[i]),
			nl: recs[i+n-1].NL, alert: recs[i].Alert})
		for end := i + n; i < end; i++ {
			ch.tx[i] = int32(len(ch.texts))
			ch.texts = append(gaffer.AppendJSONString(ch.texts, recs[i].Data), ',')
		}
	}
	ch.tx[len(recs)] = int32(len(ch.texts))
}
