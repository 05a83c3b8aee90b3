package archive

import (
	"math"

	"github.com/gaffer-dev/gaffer"
)

// cursor reads the records a filter selects, forward from a frame, and uses
// the stream index to jump over the records of others.
//
// For each selected stream it remembers the seq of its last record seen,
// and the gap of its last entry before it. Once gap seqs went by without
// a record, the stream's next record follows a longer gap, so it has an
// entry: the stream sleeps until the first of its entries after here. It
// sleeps at once when the entries' ordinals say that no record of it comes
// before its next entry. When every selected stream sleeps, the cursor
// jumps to the frame of the earliest wake-up. The records the index does
// not describe yet (after its last mark: streams it does not know, or
// whose next entry is not written) are always scanned.
type cursor struct {
	lf     *logFile
	r      *frameReader
	filter gaffer.LogFilter
	v      *sdxView // nil: scan every record

	ids     map[string]int // host "\x00" stream "\x00" file → index in st
	st      []streamState
	awake   int   // streams in st not asleep
	check   int64 // seq at which to look for streams to put to sleep
	started bool
	jumped  bool // since the last frame read
	key     []byte
}

type streamState struct {
	id       int
	last     int64  // seq of the last record seen (or before the first read)
	gap      int64  // of the stream's last entry at or before last
	next     sentry // its first entry after last, if hasNext
	hasNext  bool
	ord      int64 // the stream's records before the last one seen, if ordKnown
	ordKnown bool
	asleep   bool
	wake     int64 // when asleep: the seq of its next record…
	wakeOff  int64 // …and its frame's offset
	wakeTail bool  // or: it has no entry, so the tail
}

// newCursor starts a cursor at the frame at off.
func newCursor(lf *logFile, off int64, filter gaffer.LogFilter, v *sdxView) *cursor {
	off = max(off, lf.start) // a trimmed log starts later
	c := &cursor{lf: lf, r: newFrameReader(lf.log, off), filter: filter}
	if v == nil || !v.serves(filter) {
		return c // nothing to skip with
	}
	c.v = v
	c.ids = map[string]int{}
	for _, id := range v.streams(filter) {
		n := v.names[id]
		c.ids[n.host+"\x00"+n.stream+"\x00"+n.file] = len(c.st)
		c.st = append(c.st, streamState{id: id})
	}
	c.awake = len(c.st)
	return c
}

// close releases the cursor's reader.
func (c *cursor) close() { c.r.release() }

// next returns the next selected frame; ok is false at the end of the
// valid frames. The frame is valid until the next call.
func (c *cursor) next() (f frame, ok bool, err error) {
	for {
		if c.v != nil && c.started && c.awake == 0 && !c.jumped {
			c.jump()
			c.jumped = true
		}
		f, ok, err = c.r.next()
		if err != nil || !ok {
			return f, ok, err
		}
		match := f.selects(c.filter)
		if c.v != nil {
			c.jumped = false
			c.track(&f, match)
		}
		if match {
			return f, true, nil
		}
	}
}

// track updates the streams' states after reading f.
func (c *cursor) track(f *frame, match bool) {
	if !c.started {
		c.started = true
		c.check = math.MaxInt64
		for i := range c.st {
			s := &c.st[i]
			s.last, s.gap = f.seq-1, MinStreamGap
			if j, ok := c.v.before(s.id, f.seq); ok {
				s.gap = c.v.ents[s.id][j].gap
			}
			s.next, s.hasNext = c.v.after(s.id, f.seq-1)
			c.check = min(c.check, s.last+s.gap)
		}
	}
	if f.seq > c.v.mark.seq {
		// The tail: nothing to skip with, every stream stays awake.
		c.v = nil
		return
	}
	if match {
		c.key = append(append(append(append(append(c.key[:0], f.host...), 0), f.stream...), 0), f.file...)
		if i, ok := c.ids[string(c.key)]; ok {
			c.seen(&c.st[i], f.seq)
		}
	}
	if f.seq < c.check {
		return
	}
	next := int64(math.MaxInt64)
	for i := range c.st {
		s := &c.st[i]
		if s.asleep {
			continue
		}
		if f.seq-s.last >= s.gap {
			c.sleep(s)
			continue
		}
		next = min(next, s.last+s.gap)
	}
	c.check = next
}

// seen updates a stream's state after reading one of its records.
func (c *cursor) seen(s *streamState, seq int64) {
	if s.asleep {
		s.asleep = false
		c.awake++
	}
	s.last = seq
	s.ord++
	if s.hasNext && seq == s.next.seq {
		// An entry: its gap holds from here, and it tells the ordinal.
		s.gap, s.ord, s.ordKnown = s.next.gap, s.next.ord, true
		s.next, s.hasNext = c.v.after(s.id, seq)
	}
	// When the index counts no more records before the next entry (or
	// its last mark), sleep now rather than after a gap: a rare stream's
	// records are then read without scanning between them.
	if s.ordKnown && (s.hasNext && s.next.ord == s.ord+1 ||
		!s.hasNext && c.v.tmark == c.v.mark && c.v.totals[s.id].records == s.ord+1) {
		c.sleep(s)
		return
	}
	c.check = min(c.check, seq+s.gap)
}

// sleep puts a stream to sleep until its next entry (or the tail).
func (c *cursor) sleep(s *streamState) {
	s.asleep = true
	c.awake--
	s.wakeTail = !s.hasNext
	if s.hasNext {
		s.wake, s.wakeOff = s.next.seq, s.next.off
	}
}

// jump moves to the earliest frame where a sleeping stream wakes.
func (c *cursor) jump() {
	seq, off := c.v.mark.seq+1, c.v.tailOff()
	for i := range c.st {
		if s := &c.st[i]; !s.wakeTail && s.wake < seq {
			seq, off = s.wake, s.wakeOff
		}
	}
	if off > c.r.off {
		c.r.reset(c.lf.log, off)
	}
	// Streams wake as their records are read, and set the next check.
	c.check = math.MaxInt64
}
