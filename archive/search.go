package archive

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// SearchTimeout bounds one Search; it then stops with Done false, to be
// continued from ScannedTo.
var SearchTimeout = 10 * time.Second

// Search calls emit with each record after q.After whose data matches q
// (gaffer.SearchQuery.Compile decides), in seq order, as it scans. It stops
// after q.Limit matches, or after SearchTimeout, with Done false.
//
// It reads the data file in chunks of chunkSize bytes, checks each
// frame's CRC, and looks for a literal that every match contains (see
// matcher) in the whole chunk at once: only the frames where it occurs are
// decoded and matched. A filter that selects few records (by the stream
// index's counts) reads those records through the cursor instead, which
// skips the others.
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
	after := min(max(q.After, 0), math.MaxInt64-1)
	off, err := lf.seek(after + 1)
	if err != nil {
		return gaffer.SearchResult{}, fmt.Errorf("search log of job %d: %w", jobID, err)
	}
	s := &search{
		ctx: ctx, lf: lf, m: newMatcher(&q, re), filter: q.Filter, after: after, limit: limit,
		deadline: time.Now().Add(SearchTimeout), emit: emit,
		res: gaffer.SearchResult{ScannedTo: after},
	}
	if !q.Filter.Zero() {
		v, err := a.streamIndex(jobID, lf)
		if err != nil {
			return gaffer.SearchResult{}, err
		}
		if v.serves(q.Filter) && selectsFew(&v, q.Filter) {
			c := newCursor(lf, off, q.Filter, &v)
			defer c.close()
			err = s.records(c)
			return s.result(jobID, err)
		}
	}
	return s.result(jobID, s.chunks(off))
}

// selectsFew reports whether the filter selects under 1/16 of the records.
func selectsFew(v *sdxView, f gaffer.LogFilter) bool {
	var sel, all int64
	for id, t := range v.totals {
		all += t.records
		if v.names[id].selectedBy(f) {
			sel += t.records
		}
	}
	return sel*16 < all
}

type search struct {
	ctx      context.Context
	lf       *logFile
	m        *matcher
	filter   gaffer.LogFilter
	after    int64
	limit    int
	deadline time.Time
	emit     func(*gaffer.Record) error
	names    names
	res      gaffer.SearchResult
}

// errStop ends a search early without an error.
var errStop = fmt.Errorf("search stopped")

func (s *search) result(jobID int64, err error) (gaffer.SearchResult, error) {
	switch {
	case err == nil:
		s.res.Done = true
	case err == errStop:
	case err == s.ctx.Err():
		return s.res, err
	default:
		return s.res, fmt.Errorf("search log of job %d: %w", jobID, err)
	}
	return s.res, nil
}

// found emits a match; errStop at the limit.
func (s *search) found(f *frame) error {
	rec := f.record(&s.names)
	if err := s.emit(&rec); err != nil {
		return emitError{err}
	}
	s.res.Matches++
	s.res.ScannedTo = f.seq
	if s.res.Matches >= s.limit {
		return errStop
	}
	return nil
}

// emitError is emit's own error, returned as it is.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }
func (e emitError) Unwrap() error { return e.err }

// check stops the search when its context ends or its time is up.
func (s *search) check() error {
	if err := s.ctx.Err(); err != nil {
		return err
	} else if time.Now().After(s.deadline) {
		return errStop
	}
	return nil
}

// records searches the records a cursor returns.
func (s *search) records(c *cursor) error {
	for i := 0; ; i++ {
		if i%4096 == 4095 {
			if err := s.check(); err != nil {
				return err
			}
		}
		f, ok, err := c.next()
		if err != nil {
			return err
		} else if !ok {
			return nil
		} else if f.seq <= s.after {
			continue
		}
		if s.m.match(f.data) {
			if err := s.found(&f); err != nil {
				return err
			}
		}
		s.res.ScannedTo = f.seq
	}
}

// chunks searches the data file from off, a chunk at a time. A goroutine
// reads the next chunk while this one is searched.
func (s *search) chunks(off int64) error {
	rd := newReadAhead(s.lf, off)
	defer rd.stop()
	var (
		carry []byte // the start of a frame that the last chunk cut
		prev  *chunkBuf
		big   []byte // for a carry longer than chunkHeadroom
	)
	defer func() {
		if prev != nil {
			chunkPool.Put(prev)
		}
	}()
	for {
		if err := s.check(); err != nil {
			return err
		}
		c, ok := <-rd.full
		if !ok {
			return nil
		} else if c.err != nil {
			return c.err
		}
		// The chunk after what the last one left: in place if it fits.
		var work []byte
		if len(carry) <= chunkHeadroom {
			at := chunkHeadroom - len(carry)
			copy(c.b[at:], carry)
			work = c.b[at : chunkHeadroom+c.n]
		} else {
			big = append(append(big[:0], carry...), c.b[chunkHeadroom:chunkHeadroom+c.n]...)
			work = big
		}
		if prev != nil {
			rd.free <- prev
		} else {
			s.m.tune(work[:min(len(work), 256<<10)])
		}
		prev = c
		p, err := s.frames(work)
		if err != nil {
			return err
		} else if p < 0 || c.eof {
			return nil // the end of the valid frames, or of the file for now
		}
		carry = work[p:] // in big, it moves to big's start: append copies as memmove does
	}
}

// Chunks of a search: chunkSize bytes read after chunkHeadroom bytes where
// the end of the previous chunk (a frame it cut) is copied.
const (
	chunkSize     = 2 << 20
	chunkHeadroom = 256 << 10
)

type chunkBuf struct {
	b   []byte
	n   int
	eof bool
	err error
}

var chunkPool = sync.Pool{New: func() any { return &chunkBuf{b: make([]byte, chunkHeadroom+chunkSize)} }}

// readAhead reads a data file from an offset, chunk after chunk, in a
// goroutine, into two buffers that go back and forth.
type readAhead struct {
	full chan *chunkBuf
	free chan *chunkBuf
	done chan struct{}
	wg   sync.WaitGroup
}

func newReadAhead(lf *logFile, off int64) *readAhead {
	rd := &readAhead{full: make(chan *chunkBuf, 1), free: make(chan *chunkBuf, 2), done: make(chan struct{})}
	rd.free <- chunkPool.Get().(*chunkBuf)
	rd.free <- chunkPool.Get().(*chunkBuf)
	rd.wg.Add(1)
	go func() {
		defer rd.wg.Done()
		defer close(rd.full)
		for {
			var c *chunkBuf
			select {
			case c = <-rd.free:
			case <-rd.done:
				return
			}
			c.n, c.eof, c.err = 0, false, nil
			for c.n < chunkSize {
				k, err := lf.log.ReadAt(c.b[chunkHeadroom+c.n:], off)
				c.n += k
				off += int64(k)
				if err == io.EOF || k == 0 && err == nil {
					c.eof = true
					break
				} else if err != nil {
					c.err = err
					break
				}
			}
			select {
			case rd.full <- c:
			case <-rd.done:
				chunkPool.Put(c)
				return
			}
			if c.eof || c.err != nil {
				return
			}
		}
	}()
	return rd
}

// stop ends the reading and returns the buffers.
func (rd *readAhead) stop() {
	close(rd.done)
	rd.wg.Wait()
	for c := range rd.full {
		chunkPool.Put(c)
	}
	for {
		select {
		case c := <-rd.free:
			chunkPool.Put(c)
		default:
			return
		}
	}
}

// frames searches the whole frames at the start of b and returns the
// length they take, or -1 when it met the end of the valid frames. The
// literal is looked for in b, not frame by frame: a frame is decoded only
// where it occurs, and in a batch frame only the records it occurs in are
// matched.
func (s *search) frames(b []byte) (int, error) {
	m := s.m
	m.newText()
	hit := -1 // next occurrence of the literal; len(b): none
	p := 0
	for {
		body, n := frameAt(b[p:])
		if n == 0 {
			return p, nil
		} else if n < 0 {
			return -1, nil
		}
		end := p + n
		blk, ok := decodeFrame(body, 0)
		if !ok {
			return -1, nil // malformed: the end, as for frameReader
		}
		if blk.last() <= s.after {
			p = end
			continue
		}
		candidate := blk.selects(s.filter)
		if candidate && m.lit != nil {
			if hit < p {
				if hit = m.index(b, p); hit < 0 {
					hit = len(b)
				}
			}
			candidate = hit < end
		}
		if candidate {
			if err := s.block(&blk, b, end-len(blk.data), &hit); err != nil {
				return 0, err
			}
		}
		s.res.ScannedTo = blk.last()
		p = end
	}
}

// block matches the records of a frame where the literal occurs; their
// data starts at b[at:], and hit is the literal's next occurrence in b.
func (s *search) block(blk *block, b []byte, at int, hit *int) error {
	m := s.m
	blk.skipTo(s.after + 1)
	for blk.more() {
		from := at + blk.dp
		f := blk.next()
		if m.lit != nil && blk.batch() {
			if *hit < from {
				if *hit = m.index(b, from); *hit < 0 {
					*hit = len(b)
				}
			}
			if *hit >= from+len(f.data) {
				continue
			}
		}
		if m.match(f.data) {
			if err := s.found(&f); err != nil {
				return err
			}
		}
	}
	return nil
}
