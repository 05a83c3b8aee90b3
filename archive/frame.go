package archive

// The frames of a data file (format in the package comment): how the
// writer groups records into frames, their encoding and decoding, and the
// reader of a data file's frames. Every other file goes through these.

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaffer-dev/gaffer"
)

const (
	frameHeader = 8  // body length, CRC
	bodyFixed   = 20 // seq, ts, flags, stream length, host length
	maxBody     = bodyFixed + math.MaxUint8 + math.MaxUint16 + MaxData

	flagNL    = 1
	flagFile  = 2
	flagAlert = 4
	flagBatch = 8

	// A batch frame's per-record length: data length << lenShift, with
	// the record's NL and Alert in the low bits.
	lenNL    = 1
	lenAlert = 2
	lenShift = 2

	// A batch frame holds at most maxBatchRecords records and
	// maxBatchData bytes of data: a reader that wants one of its records
	// reads and checks the frame whole, so frames stay about the size of
	// one Read (gaffer.MaxReadBytes).
	maxBatchRecords = 1024
	maxBatchData    = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// tsNano is a record's TS as the format keeps it: 0 for the zero time.
func tsNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// ---- writing ----

// runLen returns how many records from recs[0] on go into one frame:
// those that follow it with the next seqs, the same host, stream, file and
// time, within the batch frame's bounds.
func runLen(recs []gaffer.Record) int {
	r0 := &recs[0]
	ts, data := tsNano(r0.TS), len(r0.Data)
	i := 1
	for ; i < len(recs) && i < maxBatchRecords; i++ {
		r := &recs[i]
		data += len(r.Data)
		if r.Seq != r0.Seq+int64(i) || data > maxBatchData || !r.SameSource(r0) ||
			r.TS != r0.TS && tsNano(r.TS) != ts {
			break
		}
	}
	return i
}

// appendRun encodes a run (see runLen) as one frame onto b: a single
// record's frame for a run of one, a batch frame otherwise.
func appendRun(b []byte, run []gaffer.Record) []byte {
	r0 := &run[0]
	var flags byte
	if len(run) == 1 {
		if r0.NL {
			flags |= flagNL
		}
		if r0.Alert {
			flags |= flagAlert
		}
	} else {
		flags |= flagBatch
	}
	if r0.File != "" {
		flags |= flagFile
	}
	start := len(b)
	b = append(b, make([]byte, frameHeader)...) // length and CRC, below
	b = binary.LittleEndian.AppendUint64(b, uint64(r0.Seq))
	b = binary.LittleEndian.AppendUint64(b, uint64(tsNano(r0.TS)))
	b = append(b, flags, byte(len(r0.Stream)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r0.Host)))
	b = append(b, r0.Stream...)
	b = append(b, r0.Host...)
	if r0.File != "" {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(r0.File)))
		b = append(b, r0.File...)
	}
	if len(run) == 1 {
		b = append(b, r0.Data...)
	} else {
		b = binary.AppendUvarint(b, uint64(len(run)))
		for i := range run {
			v := uint64(len(run[i].Data)) << lenShift
			if run[i].NL {
				v |= lenNL
			}
			if run[i].Alert {
				v |= lenAlert
			}
			if v < 0x80 {
				b = append(b, byte(v))
			} else {
				b = binary.AppendUvarint(b, v)
			}
		}
		for i := range run {
			b = append(b, run[i].Data...)
		}
	}
	body := b[start+frameHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, castagnoli))
	return b
}

// runSize is the length of run's frame, as appendRun encodes it.
func runSize(run []gaffer.Record) int {
	r0 := &run[0]
	n := frameHeader + bodyFixed + len(r0.Stream) + len(r0.Host)
	if r0.File != "" {
		n += 2 + len(r0.File)
	}
	if len(run) == 1 {
		return n + len(r0.Data)
	}
	n += uvarintLen(uint64(len(run)))
	for i := range run {
		n += uvarintLen(uint64(len(run[i].Data))<<lenShift) + len(run[i].Data)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// ---- decoding ----

// block is a decoded frame: one record, or a batch of them. Its slices
// point into the frame's bytes. next returns its records one by one.
type block struct {
	off    int64 // of the frame in the data file
	seq    int64 // of its first record; the others follow one by one
	ts     int64
	n      int // records
	flags  byte
	stream []byte
	host   []byte
	file   []byte
	lens   []byte // a batch's lengths (uvarints); nil for a single record
	data   []byte // the records' data, one after another

	i, lp, dp int // the next record: its number, its length in lens, its data
}

// frameAt checks the frame at the start of b: it returns its body and its
// length, 0 when b holds only part of it, or -1 when it is no frame (short
// in a file that ended, over-long, or failing its CRC: the end of a log).
func frameAt(b []byte) (body []byte, n int) {
	if len(b) < frameHeader {
		return nil, 0
	}
	l := binary.LittleEndian.Uint32(b)
	if l < bodyFixed || l > maxBody {
		return nil, -1
	} else if uint64(len(b)-frameHeader) < uint64(l) {
		return nil, 0
	}
	body = b[frameHeader : frameHeader+l]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, -1
	}
	return body, frameHeader + int(l)
}

// decodeFrame decodes the body of a frame whose CRC matched; ok is false
// if it is malformed (which ends a log as a torn frame does).
func decodeFrame(body []byte, off int64) (b block, ok bool) {
	if len(body) < bodyFixed {
		return block{}, false
	}
	sl, hl := int(body[17]), int(binary.LittleEndian.Uint16(body[18:]))
	if bodyFixed+sl+hl > len(body) {
		return block{}, false
	}
	b = block{
		off:    off,
		seq:    int64(binary.LittleEndian.Uint64(body[0:])),
		ts:     int64(binary.LittleEndian.Uint64(body[8:])),
		n:      1,
		flags:  body[16],
		stream: body[bodyFixed : bodyFixed+sl],
		host:   body[bodyFixed+sl : bodyFixed+sl+hl],
	}
	rest := body[bodyFixed+sl+hl:]
	if b.flags&flagFile != 0 {
		if len(rest) < 2 {
			return block{}, false
		}
		fl := int(binary.LittleEndian.Uint16(rest))
		if 2+fl > len(rest) {
			return block{}, false
		}
		b.file, rest = rest[2:2+fl], rest[2+fl:]
	}
	if b.flags&flagBatch == 0 {
		b.data = rest
		return b, true
	}
	// A batch: NL and Alert are the records', in their lengths.
	if b.flags&(flagNL|flagAlert) != 0 {
		return block{}, false
	}
	count, k := binary.Uvarint(rest)
	if k <= 0 || count == 0 || count > uint64(len(rest)) || b.seq > math.MaxInt64-int64(count-1) {
		return block{}, false
	}
	b.n = int(count)
	p, total := k, uint64(0)
	for range b.n {
		v, k := uvarint(rest, p)
		if k <= 0 || v>>lenShift > MaxData {
			return block{}, false
		}
		p += k
		total += v >> lenShift
	}
	b.lens, b.data = rest[k:p], rest[p:]
	if total != uint64(len(b.data)) {
		return block{}, false
	}
	return b, true
}

// uvarint decodes the uvarint at b[p:], the common one-byte case inline.
func uvarint(b []byte, p int) (uint64, int) {
	if p < len(b) && b[p] < 0x80 {
		return uint64(b[p]), 1
	}
	return binary.Uvarint(b[p:])
}

// batch reports whether the frame is a batch frame.
func (b *block) batch() bool { return b.flags&flagBatch != 0 }

// last is the seq of the frame's last record.
func (b *block) last() int64 { return b.seq + int64(b.n-1) }

// more reports whether next has a record left.
func (b *block) more() bool { return b.i < b.n }

// next returns the next record; more must be true. Its data is valid as
// long as the block's.
func (b *block) next() frame {
	f := frame{seq: b.seq + int64(b.i), ts: b.ts, stream: b.stream, host: b.host, file: b.file, off: b.off}
	if !b.batch() {
		f.nl, f.alert, f.data = b.flags&flagNL != 0, b.flags&flagAlert != 0, b.data
	} else {
		v, k := uvarint(b.lens, b.lp)
		l := int(v >> lenShift)
		f.nl, f.alert, f.data = v&lenNL != 0, v&lenAlert != 0, b.data[b.dp:b.dp+l:b.dp+l]
		b.lp += k
		b.dp += l
	}
	b.i++
	return f
}

// appendRaw appends the bytes of the records next has left to dst, each
// with its newline if it had one (the stream as the host wrote it), and
// uses them up: one loop over the lengths, not a frame per record.
func (b *block) appendRaw(dst []byte) []byte {
	if !b.batch() {
		if b.i < b.n {
			dst = append(dst, b.data...)
			if b.flags&flagNL != 0 {
				dst = append(dst, '\n')
			}
			b.i = b.n
		}
		return dst
	}
	for ; b.i < b.n; b.i++ {
		v, k := uvarint(b.lens, b.lp)
		l := int(v >> lenShift)
		dst = append(dst, b.data[b.dp:b.dp+l]...)
		if v&lenNL != 0 {
			dst = append(dst, '\n')
		}
		b.lp += k
		b.dp += l
	}
	return dst
}

// skipTo skips the records before seq.
func (b *block) skipTo(seq int64) {
	for b.i < b.n && b.seq+int64(b.i) < seq {
		if b.batch() {
			v, k := uvarint(b.lens, b.lp)
			b.lp += k
			b.dp += int(v >> lenShift)
		}
		b.i++
	}
}

// rest returns the number of records left for next and their data bytes.
func (b *block) rest() (records, bytes int) {
	if b.i >= b.n {
		return 0, 0
	}
	return b.n - b.i, len(b.data) - b.dp
}

// selects reports whether filter selects the frame's records.
func (b *block) selects(filter gaffer.LogFilter) bool {
	return (filter.Host == "" || string(b.host) == filter.Host) &&
		(filter.Stream == "" || string(b.stream) == string(filter.Stream)) &&
		(filter.File == "" || string(b.file) == filter.File)
}

// readCap is the room for a Read's records, guessed from the size of this
// frame's records after `after`: those that fit gaffer.MaxReadBytes at
// that size, and a few more. One allocation for the Read, not a chain of
// copies as the slice grows frame by frame (with a write barrier for each
// Record moved).
func (b *block) readCap(after int64, limit int) int {
	n, data := b.n, len(b.data)
	if first := after + 1 - b.seq; first > 0 && first < int64(n) {
		// The records before `after`: at the mean size, not walked.
		data -= int(int64(data) * first / int64(n))
		n -= int(first)
	}
	return min(limit, gaffer.ReadRoom(data/max(n, 1)+len(b.file)))
}

// appendRecords appends to recs the records left with seq > after, while
// recs holds fewer than limit and *size (their Size, added up) is under
// gaffer.MaxReadBytes, as Records that own their data: one copy of it all
// into buf's memory. It reports whether it went to the frame's end.
func (b *block) appendRecords(recs []gaffer.Record, after int64, limit int, size *int, names *names, buf *gaffer.ReadBuffer) ([]gaffer.Record, bool) {
	if after >= b.last() {
		b.i = b.n
		return recs, true
	}
	b.skipTo(after + 1)
	i0, lp0, dp0 := b.i, b.lp, b.dp
	for b.i < b.n && len(recs)+b.i-i0 < limit && *size < gaffer.MaxReadBytes {
		l := len(b.data)
		if b.batch() {
			v, k := uvarint(b.lens, b.lp)
			l = int(v >> lenShift)
			b.lp += k
		}
		b.dp += l
		b.i++
		*size += gaffer.RecordSize(l, len(b.file))
	}
	if b.i == i0 {
		return recs, false
	}
	data := buf.CopyData(b.data[dp0:b.dp])
	names.set(b.host, b.stream, b.file)
	var ts time.Time
	if b.ts != 0 {
		ts = time.Unix(0, b.ts).UTC()
	}
	rec := gaffer.Record{TS: ts, Host: names.host, Stream: gaffer.Stream(names.stream), File: names.file}
	if !b.batch() {
		rec.Seq, rec.Data, rec.NL, rec.Alert = b.seq, data, b.flags&flagNL != 0, b.flags&flagAlert != 0
		return append(recs, rec), true
	}
	n := b.i - i0
	recs = slices.Grow(recs, n)
	for i, lp, dp := i0, lp0, 0; i < b.i; i++ {
		v, k := uvarint(b.lens, lp)
		lp += k
		l := int(v >> lenShift)
		rec.Seq, rec.Data, rec.NL, rec.Alert = b.seq+int64(i), data[dp:dp+l:dp+l], v&lenNL != 0, v&lenAlert != 0
		dp += l
		recs = append(recs, rec)
	}
	return recs, b.i == b.n
}

// appendLines adds to l the records left with seq > after, while l holds
// fewer than limit and is not Full (the first of them in any case), and
// reports whether it went to the frame's end. One Begin per frame: its
// records share their source.
func (b *block) appendLines(l *gaffer.Lines, after int64, limit int, names *names) bool {
	if after >= b.last() {
		b.i = b.n
		return true
	}
	b.skipTo(after + 1)
	names.set(b.host, b.stream, b.file)
	var ts time.Time
	if b.ts != 0 {
		ts = time.Unix(0, b.ts).UTC()
	}
	l.Begin(b.seq+int64(b.i), ts, names.host, gaffer.Stream(names.stream), names.file)
	if !b.batch() {
		l.Add(b.data, b.flags&flagNL != 0, b.flags&flagAlert != 0)
		b.i = b.n
		return true
	}
	for first := true; b.i < b.n && (first || l.Len() < limit && !l.Full()); first = false {
		v, k := uvarint(b.lens, b.lp)
		n := int(v >> lenShift)
		l.Add(b.data[b.dp:b.dp+n:b.dp+n], v&lenNL != 0, v&lenAlert != 0)
		b.lp += k
		b.dp += n
		b.i++
	}
	return b.i == b.n
}

// frame is one record of a frame. Its slices point into the frame's
// bytes.
type frame struct {
	seq    int64
	ts     int64
	nl     bool
	alert  bool
	stream []byte
	host   []byte
	file   []byte
	data   []byte
	off    int64 // of the frame that holds it
}

// selects reports whether filter selects the frame's record.
func (f *frame) selects(filter gaffer.LogFilter) bool {
	return (filter.Host == "" || string(f.host) == filter.Host) &&
		(filter.Stream == "" || string(f.stream) == string(filter.Stream)) &&
		(filter.File == "" || string(f.file) == filter.File)
}

// names reuses the last host, stream and file strings, which repeat in runs.
type names struct {
	host, stream, file string
}

func (n *names) set(host, stream, file []byte) {
	if string(host) != n.host {
		n.host = string(host)
	}
	if string(stream) != n.stream {
		n.stream = string(stream)
	}
	if string(file) != n.file {
		n.file = string(file)
	}
}

// record returns f as a Record that owns its data.
func (f *frame) record(names *names) gaffer.Record {
	names.set(f.host, f.stream, f.file)
	rec := gaffer.Record{
		Seq:    f.seq,
		Host:   names.host,
		Stream: gaffer.Stream(names.stream),
		File:   names.file,
		Data:   append([]byte{}, f.data...),
		NL:     f.nl,
		Alert:  f.alert,
	}
	if f.ts != 0 {
		rec.TS = time.Unix(0, f.ts).UTC()
	}
	return rec
}

// ---- reading a data file ----

// frameReader reads frames from a data file, possibly one still being
// written: whole (nextBlock), or record by record (next). Its buffer is
// reused: what it returns is valid until the next call.
type frameReader struct {
	r       *bufio.Reader
	off     int64 // of the frame holding the next record next returns (the next frame's once none is left)
	end     int64 // after the last frame read
	buf     []byte
	blk     block
	resumed bool // blk is a held frame, for nextBlock to return first
}

// newFrameReader returns a reader of the frames from off; release gives
// it back.
func newFrameReader(f io.ReaderAt, off int64) *frameReader {
	r := readerPool.Get().(*frameReader)
	r.reset(f, off)
	return r
}

// Readers are pooled: a Read of a few records would otherwise allocate its
// buffers (128 KiB) for them, and the garbage collector's work dominates.
var readerPool = sync.Pool{New: func() any {
	return &frameReader{r: bufio.NewReaderSize(nil, 64<<10)}
}}

// release returns r to the pool: nothing it returned may be used after.
func (r *frameReader) release() {
	r.r.Reset(nil)
	r.blk = block{}
	if cap(r.buf) > 1<<20 {
		r.buf = nil // a big record's: not kept
	}
	readerPool.Put(r)
}

// reset moves r to the frame at off, keeping its buffers.
func (r *frameReader) reset(f io.ReaderAt, off int64) {
	r.r.Reset(io.NewSectionReader(f, off, math.MaxInt64-off))
	r.off, r.end, r.blk, r.resumed = off, off, block{}, false
}

// resume makes h's frame, at its next record, the one nextBlock returns
// first, and reads on from the end of it. h takes r's buffer in exchange,
// as a spare for keep.
func (r *frameReader) resume(f io.ReaderAt, h *heldBlock) {
	r.reset(f, h.end)
	r.buf, h.body = h.body, r.buf
	r.off, r.blk, r.resumed = h.blk.off, h.blk, true
	h.blk = block{}
}

// keep hands over the frame r is inside, decoded at its next record, with
// the buffer it lies in; r takes spare's buffer (spare nil: none) instead.
func (r *frameReader) keep(spare *heldBlock) *heldBlock {
	h := spare
	if h == nil {
		h = new(heldBlock)
	}
	h.body, r.buf = r.buf, h.body
	h.blk, h.end = r.blk, r.end
	r.blk = block{}
	return h
}

// recordsRead counts the records in the frames decoded, for tests of how
// much a query reads.
var recordsRead atomic.Int64

// nextBlock returns the next frame (what next did not return of the one
// before is skipped), or ok false at the end of the valid frames: the end
// of the file, or a frame that is short, malformed or fails its CRC (torn
// by a crash, or still being written).
func (r *frameReader) nextBlock() (b *block, ok bool, err error) {
	if r.resumed {
		r.resumed = false
		if r.blk.more() {
			return &r.blk, true, nil
		}
	}
	r.off, r.blk = r.end, block{}
	var h [frameHeader]byte
	if _, err := io.ReadFull(r.r, h[:]); err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	n := binary.LittleEndian.Uint32(h[0:])
	if n < bodyFixed || n > maxBody {
		return nil, false, nil
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	body := r.buf[:n]
	if _, err := io.ReadFull(r.r, body); err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, false, nil
	}
	if r.blk, ok = decodeFrame(body, r.off); !ok {
		return nil, false, nil
	}
	recordsRead.Add(int64(r.blk.n))
	r.end = r.off + frameHeader + int64(n)
	return &r.blk, true, nil
}

// next returns the next record, or ok false at the end of the valid frames
// (see nextBlock).
func (r *frameReader) next() (f frame, ok bool, err error) {
	for !r.blk.more() {
		if _, ok, err := r.nextBlock(); !ok || err != nil {
			return frame{}, ok, err
		}
	}
	f = r.blk.next()
	if !r.blk.more() {
		r.off = r.end
	}
	return f, true, nil
}
