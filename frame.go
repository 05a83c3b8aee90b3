package gaffer

import (
	"bytes"
	"sync"
	"time"
)

// Framing defaults: records hold at most MaxRecord bytes, and an unfinished
// line is shown after QuietFlush without new output (so "Password:" appears).
const (
	MaxRecord  = 64 << 10
	QuietFlush = 50 * time.Millisecond
)

// Framer cuts one output stream into records: one per line, "\r" kept, lines
// longer than max split into records with NL false, and a trailing partial
// line flushed once the stream has been quiet for a short time. Emit is
// called with complete lines at once, never held back for a batch.
// A Framer is safe for use by one writer plus its own flush timer.
type Framer struct {
	host   string
	stream Stream
	max    int
	quiet  time.Duration
	emit   func([]Record)

	masker *Masker

	mu      sync.Mutex
	pending []byte // start of an unfinished line, shorter than max
	mask    maskState
	timer   *time.Timer
	closed  bool
}

// NewFramer returns a Framer that sends records to emit. max <= 0 means
// MaxRecord; quiet <= 0 means QuietFlush.
func NewFramer(host string, stream Stream, max int, quiet time.Duration, emit func([]Record)) *Framer {
	if max <= 0 {
		max = MaxRecord
	}
	if quiet <= 0 {
		quiet = QuietFlush
	}
	return &Framer{host: host, stream: stream, max: max, quiet: quiet, emit: emit}
}

// SetMasker makes f replace secrets with Masked before records are made,
// also when a secret is split across writes: a tail that could be the start
// of one is held back, but never past the quiet flush. Call it before the
// first Write.
func (f *Framer) SetMasker(m *Masker) { f.masker = m }

// Write frames p. It never fails; after Close it drops p.
func (f *Framer) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || len(p) == 0 {
		return len(p), nil
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	n := len(p)
	if f.masker != nil {
		p = f.mask.write(f.masker, p)
	}
	if recs := f.frameLocked(p); len(recs) > 0 {
		f.emit(recs)
	}
	if len(f.pending) > 0 || len(f.mask.held) > 0 {
		if f.timer == nil {
			f.timer = time.AfterFunc(f.quiet, f.flushQuiet)
		} else {
			f.timer.Reset(f.quiet)
		}
	}
	return n, nil
}

// frameLocked cuts p, after what is pending, into records. The records of
// one call share one new buffer (pending and p copied once, newlines left
// between them): a chunk costs two allocations, not one per line. Each
// record's Data is capped at its own length, so appending to one never
// writes into the next, and no later Write touches the buffer.
func (f *Framer) frameLocked(p []byte) []Record {
	now := time.Now().UTC()
	buf := make([]byte, len(f.pending)+len(p))
	copy(buf, f.pending)
	copy(buf[len(f.pending):], p)
	f.pending = nil
	recs := make([]Record, 0, bytes.Count(p, newline)+len(buf)/f.max+1)
	add := func(data []byte, nl bool) {
		recs = append(recs, Record{TS: now, Host: f.host, Stream: f.stream, Data: data[:len(data):len(data)], NL: nl})
	}
	rest := buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i]
		rest = rest[i+1:]
		// A line (the pending start and this segment) cut into max-sized parts.
		for len(line) > f.max {
			add(line[:f.max], false)
			line = line[f.max:]
		}
		add(line, true)
	}
	for len(rest) >= f.max {
		add(rest[:f.max], false)
		rest = rest[f.max:]
	}
	if len(rest) > 0 {
		f.pending = rest[:len(rest):len(rest)]
	}
	return recs
}

var newline = []byte{'\n'}

// Executors read a stream's output for a Framer into a buffer that starts
// at MinReadBuffer and doubles, up to MaxReadBuffer, each time a read fills
// it (the output comes faster than it is taken): bigger chunks cost the
// framer and the archive less per byte. A read returns what is there, so
// this adds no latency; a quiet stream keeps a small buffer.
const (
	MinReadBuffer = 32 << 10
	MaxReadBuffer = 256 << 10
)

// GrowReadBuffer returns the buffer for the next read, after one that read n
// bytes into buf.
func GrowReadBuffer(buf []byte, n int) []byte {
	if n == len(buf) && len(buf) < MaxReadBuffer {
		return make([]byte, 2*len(buf))
	}
	return buf
}

func (f *Framer) flushQuiet() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.flushLocked()
	}
}

func (f *Framer) flushLocked() {
	var recs []Record
	if f.masker != nil {
		recs = f.frameLocked(f.mask.flush(f.masker))
	}
	if len(f.pending) > 0 {
		recs = append(recs, Record{TS: time.Now().UTC(), Host: f.host, Stream: f.stream, Data: f.pending})
		f.pending = nil
	}
	if len(recs) > 0 {
		f.emit(recs)
	}
}

// Close flushes an unfinished last line (NL false) and stops the timer.
func (f *Framer) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	f.flushLocked()
	f.closed = true
}

// Rebuild writes back the exact bytes of records of one stream, the inverse
// of framing: each record's data, plus "\n" where NL is set.
func Rebuild(buf *bytes.Buffer, recs []Record) {
	for i := range recs {
		buf.Write(recs[i].Data)
		if recs[i].NL {
			buf.WriteByte('\n')
		}
	}
}
