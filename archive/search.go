package archive

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// SearchTimeout bounds one Search; it then stops with Done false, to be
// continued from ScannedTo.
var SearchTimeout = 10 * time.Second

// searchChunk is the size of the reads of a search.
const searchChunk = 4 << 20

// Search calls emit with each record after q.After whose data matches q
// (gaffer.SearchQuery.Compile decides), in seq order, as it scans. It stops
// after q.Limit matches, or after SearchTimeout, with Done false.
//
// It reads the data file in chunks of searchChunk bytes, checks each
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
		if v.mark.off != 0 && selectsFew(&v, q.Filter) {
			err = s.records(newCursor(lf, off, q.Filter, &v))
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
		if n := v.names[id]; (f.Host == "" || n.host == f.Host) && (f.Stream == "" || n.stream == string(f.Stream)) {
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

// chunks searches the data file from off, a chunk at a time.
func (s *search) chunks(off int64) error {
	buf := make([]byte, searchChunk)
	n := 0 // bytes of buf read, from off
	eof := false
	for {
		if err := s.check(); err != nil {
			return err
		}
		for n < len(buf) && !eof {
			k, err := s.lf.log.ReadAt(buf[n:], off+int64(n))
			n += k
			if err == io.EOF || k == 0 && err == nil {
				eof = true
			} else if err != nil {
				return err
			}
		}
		p, err := s.frames(buf[:n])
		if err != nil {
			return err
		}
		if p < 0 {
			return nil // the end of the valid frames
		}
		if p == 0 {
			if eof {
				return nil // a frame cut short: the end, for now
			}
			// A frame larger than the buffer.
			l := int(binary.LittleEndian.Uint32(buf))
			buf = append(buf, make([]byte, frameHeader+l-len(buf))...)
			continue
		}
		copy(buf, buf[p:n])
		off += int64(p)
		n -= p
		if eof && n == 0 {
			return nil
		}
	}
}

// frames searches the whole frames at the start of b and returns the
// length they take, or -1 when it met the end of the valid frames.
func (s *search) frames(b []byte) (int, error) {
	m := s.m
	m.newText()
	hit := -1 // next occurrence of the literal; len(b): none
	p := 0
	for {
		if len(b)-p < frameHeader {
			return p, nil
		}
		l := int(binary.LittleEndian.Uint32(b[p:]))
		if l < bodyFixed || l > maxBody {
			return -1, nil
		} else if len(b)-p-frameHeader < l {
			return p, nil
		}
		end := p + frameHeader + l
		body := b[p+frameHeader : end]
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[p+4:]) {
			return -1, nil
		}
		if bodyFixed+int(body[17])+int(binary.LittleEndian.Uint16(body[18:])) > l {
			return -1, nil // malformed: the end, as for frameReader
		}
		seq := int64(binary.LittleEndian.Uint64(body))
		if seq > s.after {
			candidate := true
			if m.lit != nil {
				if hit < p {
					if hit = m.index(b, p); hit < 0 {
						hit = len(b)
					}
				}
				candidate = hit < end
			}
			if candidate {
				f, _ := decodeBody(body)
				if f.selects(s.filter) && m.match(f.data) {
					if err := s.found(&f); err != nil {
						return 0, err
					}
				}
			}
			s.res.ScannedTo = seq
		}
		p = end
	}
}
