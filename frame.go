package gaffer

import (
	"bytes"
	"io"
	"slices"
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
// called with complete lines at once, never held back for a batch, and
// with at most emitBatch records at a time.
// A Framer is safe for use by one writer plus its own flush timer.
//
// The records passed to emit, and their data, are valid only during the
// call: the Framer reuses its buffers for the next chunk, so that framing
// allocates nothing per line or per chunk. A sink that keeps records copies
// them (CloneRecords); the archive and the live logs copy or encode them.
type Framer struct {
	host   string
	stream Stream
	max    int
	quiet  time.Duration
	emit   func([]Record)

	masker  *Masker
	capture io.Writer

	mu       sync.Mutex
	pending  []byte // start of an unfinished line, shorter than max (in buf)
	buf      []byte // the chunk being framed, reused
	recs     []Record
	keepBuf  bufferUse
	keepRecs bufferUse
	mask     maskState
	timer    *time.Timer
	closed   bool
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

// SetCapture makes f write every byte its records are made of to w, masked
// as they are, as it takes them in: a checksum of the stream costs a pass
// over each chunk rather than a rebuild of its records, and checks the
// framing as well. Call it before the first Write.
func (f *Framer) SetCapture(w io.Writer) { f.capture = w }

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
	if f.capture != nil {
		f.capture.Write(p)
	}
	if recs := f.frameLocked(p); len(recs) > 0 {
		f.emit(recs)
	}
	if len(f.pending) > 0 || len(f.mask.held) > 0 || f.holdsBig() {
		if f.timer == nil {
			f.timer = time.AfterFunc(f.quiet, f.flushQuiet)
		} else {
			f.timer.Reset(f.quiet)
		}
	}
	return n, nil
}

// frameLocked cuts p, after what is pending, into records: it emits them
// emitBatch at a time and returns the last ones, for the caller to emit.
// The records of one call share the Framer's buffer (pending moved to its
// start, p copied after it, newlines left between records): a chunk costs
// no allocation once the buffers have grown to the chunks' size. Each
// record's Data is capped at its own length, so appending to one never
// writes into the next.
func (f *Framer) frameLocked(p []byte) []Record {
	now := time.Now().UTC()
	n := len(f.pending) + len(p)
	buf := f.buf
	if cap(buf) < n {
		buf = make([]byte, n, max(n, 2*cap(buf)))
	}
	buf = buf[:n]
	copy(buf, f.pending) // pending lies in f.buf: copy handles the overlap
	copy(buf[len(f.pending):], p)
	f.buf = buf
	f.pending = nil
	// Room for a record per line up front, up to a batch: one allocation
	// at most, not a chain of copies as the slice doubles. A chunk of more
	// lines goes to emit a batch at a time, so that each sink's pass over
	// a batch finds its records still in the CPU's cache (a 256 KiB read
	// of short lines is 4 MB of Records).
	recs := slices.Grow(f.recs[:0], min(bytes.Count(buf, newline)+1, emitBatch))
	add := func(data []byte, nl bool) {
		recs = append(recs, Record{TS: now, Host: f.host, Stream: f.stream, Data: data[:len(data):len(data)], NL: nl})
	}
	rest := buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if len(recs) >= emitBatch {
			f.emit(recs)
			recs = recs[:0]
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
	// Keep the buffers for the next chunk while the chunks use them: not
	// one that grew far past the usual (a burst of tiny lines, a huge
	// pending line), nor a big one once the output slows to a trickle, so
	// that a stream that went quiet holds little until its run ends.
	if f.keepRecs.keep(cap(recs), len(recs), smallRecords, maxKeptRecords) {
		f.recs = recs
	} else {
		f.recs = nil
	}
	if !f.keepBuf.keep(cap(buf), n, smallBuffer, 2*MaxReadBuffer+2*f.max) {
		f.buf = nil
		if len(f.pending) > 0 {
			f.pending = bytes.Clone(f.pending)
		}
	}
	return recs
}

// bufferUse decides whether a reused buffer is worth keeping, from how the
// chunks use it.
type bufferUse struct {
	low int // chunks in a row that used under a quarter of it
}

// lowChunks is how many chunks in a row may use under a quarter of a big
// buffer before it goes: reads over SSH mix full buffers with single
// packets, and a big buffer let go at the first small chunk is grown again
// at the next big one.
const lowChunks = 16

// keep reports whether a buffer of capacity c, of which this chunk used n,
// is worth keeping: small ones always; bigger ones, up to most, until
// lowChunks chunks in a row used under a quarter of them.
func (u *bufferUse) keep(c, n, small, most int) bool {
	switch {
	case c <= small || c <= most && n >= c/4:
		u.low = 0
		return true
	case c <= most && u.low+1 < lowChunks:
		u.low++
		return true
	}
	u.low = 0
	return false
}

var newline = []byte{'\n'}

// Buffers a Framer always keeps: what a trickle of output needs.
const (
	smallRecords = 1024
	smallBuffer  = 64 << 10
)

// emitBatch is the most records a Framer passes to emit at once: 240 KB of
// Records, which the sinks' passes (numbering, archive, live log) find in
// the CPU's cache.
const emitBatch = 2048

// maxKeptRecords bounds the record slice a Framer keeps between chunks:
// a full read of one-byte lines.
const maxKeptRecords = MaxReadBuffer / 2

// CloneRecords returns a copy of recs that owns its data (one allocation
// for all of it): for a sink that keeps what a Framer emits.
func CloneRecords(recs []Record) []Record {
	out := slices.Clone(recs)
	n := 0
	for i := range out {
		n += len(out[i].Data)
	}
	data := make([]byte, 0, n)
	for i := range out {
		start := len(data)
		data = append(data, out[i].Data...)
		out[i].Data = data[start:len(data):len(data)]
	}
	return out
}

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

// flushQuiet runs once the stream has been quiet for f.quiet: it shows an
// unfinished line, and lets big buffers go, so that a stream that printed a
// burst and went quiet holds little until its run ends.
func (f *Framer) flushQuiet() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.flushLocked()
		if f.holdsBig() {
			f.recs, f.buf = nil, nil
			f.keepRecs, f.keepBuf = bufferUse{}, bufferUse{}
		}
	}
}

// holdsBig reports whether f keeps buffers bigger than a quiet stream needs.
func (f *Framer) holdsBig() bool { return cap(f.recs) > smallRecords || cap(f.buf) > smallBuffer }

func (f *Framer) flushLocked() {
	var recs []Record
	if f.masker != nil {
		held := f.mask.flush(f.masker)
		if f.capture != nil {
			f.capture.Write(held)
		}
		recs = f.frameLocked(held)
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
