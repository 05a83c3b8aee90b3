package archive

import (
	"math"

	"github.com/gaffer-dev/gaffer"
)

// cursor reads the records a filter selects, forward from a frame, and uses
// the stream index to jump over the records of others.
//
// For each selected stream it remembers the seq of its last record seen.
// Once StreamGap seqs went by without one, the stream's next record is
// preceded by a gap of more than StreamGap, so it has an entry: the stream
// sleeps until the first of its entries after here. When every selected
// stream sleeps, the cursor jumps to the frame of the earliest wake-up. The
// records the index does not describe yet (after its last mark: streams it
// does not know, or whose next entry is not written) are always scanned.
type cursor struct {
	lf     *logFile
	r      *frameReader
	filter gaffer.LogFilter
	v      *sdxView // nil: scan every record

	ids     map[string]int // host "\x00" stream → index in st
	st      []streamState
	awake   int   // streams in st not asleep
	check   int64 // seq at which to look for streams to put to sleep
	started bool
	jumped  bool // since the last frame read
	key     []byte
}

type streamState struct {
	id       int
	last     int64 // seq of the last record seen (or before the first read)
	asleep   bool
	wake     int64 // when asleep: the seq of its next record…
	wakeOff  int64 // …and its frame's offset
	wakeTail bool  // or: it has no entry, so the tail
}

// newCursor starts a cursor at the frame at off.
func newCursor(lf *logFile, off int64, filter gaffer.LogFilter, v *sdxView) *cursor {
	c := &cursor{lf: lf, r: newFrameReader(lf.log, off), filter: filter}
	if filter.Zero() || v == nil || v.mark.off == 0 {
		return c // nothing to skip with
	}
	c.v = v
	c.ids = map[string]int{}
	for _, id := range v.streams(filter.Host, string(filter.Stream)) {
		c.ids[v.names[id].host+"\x00"+v.names[id].stream] = len(c.st)
		c.st = append(c.st, streamState{id: id})
	}
	c.awake = len(c.st)
	return c
}

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
		for i := range c.st {
			c.st[i].last = f.seq - 1
		}
		c.check = f.seq - 1 + StreamGap
	}
	if f.seq > c.v.mark.seq {
		// The tail: nothing to skip with, every stream stays awake.
		c.v = nil
		return
	}
	if match {
		c.key = append(append(append(c.key[:0], f.host...), 0), f.stream...)
		if i, ok := c.ids[string(c.key)]; ok {
			s := &c.st[i]
			if s.asleep {
				s.asleep = false
				c.awake++
			}
			s.last = f.seq
			c.check = min(c.check, f.seq+StreamGap)
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
		if f.seq-s.last >= StreamGap {
			s.asleep = true
			c.awake--
			if e, ok := c.v.after(s.id, f.seq); ok {
				s.wake, s.wakeOff, s.wakeTail = e.seq, e.off, false
			} else {
				s.wakeTail = true
			}
			continue
		}
		next = min(next, s.last+StreamGap)
	}
	c.check = next
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
	// Streams wake as their records are read; the check restarts there.
	c.check = seq + StreamGap
	for i := range c.st {
		if s := &c.st[i]; s.wake == seq && !s.wakeTail {
			s.last = seq - 1
		}
	}
}
