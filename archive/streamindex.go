package archive

// The stream index: where each host's stream (and each followed file in
// it) has records, so that filtered reads skip the records of others, and
// per-stream counts for Summary.
//
// # Stream index file: <id>.sdx
//
// An 8-byte magic "GAFSDX2\n" ("GAFSDX1\n": written before records had
// files, see below), then items, each
//
//	u32 body length | u32 CRC-32C of body | body
//
// where body starts with a kind byte (all integers little-endian):
//
//	'N' name:  u32 stream number | u8 stream length | u16 host length | stream | host
//	'P' name with a file: u32 stream number | u8 stream length | u16 host length
//	           | u16 file length | stream | host | file
//	'E' entry: u32 stream number | i64 seq | i64 offset of the frame holding it | i64 ord | i64 bytes | u32 gap
//	'M' mark:  u8 flags | i64 seq | i64 offset | i64 ts | u32 n | n × (u32 stream number | i64 records | i64 bytes)
//
// Streams (one host's stdout, stderr…; for a follow job's records, one
// host's stream of one file) are numbered 0, 1, … in the order they first
// appear; a name item precedes the stream's first entry. An index with the
// first magic knows no files: a file filter scans the log instead. A
// stream's record gets an entry when it is the stream's first (in the log,
// or in a segment of a segmented log: see segment.go), when it
// follows the stream's previous record by more than the gap of the
// stream's last entry, or when StreamEvery of the stream's records went by
// since its last entry; ord and bytes count the stream's records and data
// bytes before it. So after an entry, until the next, the stream's records
// are at most gap seqs apart: a reader that saw none of them for gap seqs
// knows the next one is an entry, and jumps to it (see cursor). The gap is
// GapFactor times the stream's mean distance between records so far,
// within [MinStreamGap, MaxStreamGap]: a stream of one host among a
// thousand evenly mixed gets no more entries than a busy one, and a rare
// one gets an entry for each record.
//
// A mark ends each write that added items, and any write that ends at least
// StreamEvery records after the last mark: it says that the items before it
// describe every record up to seq, that the next frame starts at offset (marks
// go between frames), and
// the TS of the record at seq. A mark with flags bit 0 set (one at least
// TotalsEvery records after the previous such mark, and the last one of a
// complete log) also holds the totals of the streams that changed since
// that previous one: with TotalsEvery records between them, the totals cost
// little even when a thousand hosts write. Readers use items up to the last mark only and scan the
// records after it (fewer than StreamEvery, plus at most one write still
// going on). The first item that is short, over-long or fails its CRC ends
// the file. Complete ends the file with a mark of the last record.
//
// # Cost
//
// The file holds about one entry per StreamEvery records of a stream, one
// per record of a stream whose records are more than MaxStreamGap apart,
// and one per burst of a stream that falls silent for long (at most about
// one per GapFactor records): a 10-million-line log of one stream has a
// 2 MB index. A process
// reads a log's index once, sequentially, and keeps it (a few logs, see
// maxCachedIndexes); later queries read only what was appended since.
// Filtered reads then cost O(log entries) in memory plus at most a gap
// (GapFactor times the stream's mean distance, at most MaxStreamGap) of
// scanned frames per stream per record returned, wherever they are in the
// log. Logs written before the stream index have no .sdx: they read as if
// the index were empty, by scanning (correct, and as slow as the log is long).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/gaffer-dev/gaffer"
)

const (
	// A stream's gap (see above): a reader scans at most this far for a
	// record of the stream before jumping to its next entry.
	MinStreamGap = 64
	MaxStreamGap = 4096
	GapFactor    = 8
	// TotalsEvery is the least number of records between two marks that
	// hold totals: Summary scans at most about this many.
	TotalsEvery = 8192
	// StreamEvery is the number of a stream's records between its entries.
	StreamEvery = 256

	sdxMagic     = "GAFSDX2\n"
	sdxMagicV1   = "GAFSDX1\n" // names without files
	itemHeader   = 8
	maxItem      = 64 << 20
	kindName     = 'N'
	kindFileName = 'P'
	kindEntry    = 'E'
	kindMark     = 'M'
	nameFixed    = 1 + 4 + 1 + 2
	entryBody    = 1 + 4 + 8*4 + 4
	markFixed    = 1 + 1 + 8*3 + 4
	markTotals   = 1 // flag: the mark holds totals
	markPerTotal = 4 + 8 + 8

	maxCachedIndexes = 32
)

// sdxPath is the stream index's final name.
func (a *Archive) sdxPath(jobID int64) string {
	return a.idxPath(jobID)[:len(a.idxPath(jobID))-len(".idx")] + ".sdx"
}

// sentry is one entry of a stream.
type sentry struct {
	seq, off   int64
	ord, bytes int64 // the stream's records and data bytes before this one
	gap        int64 // the largest distance between its records until the next entry
}

// smark is a mark: everything up to seq is described by the items before it.
type smark struct {
	seq, off, ts int64
}

// stotal counts a stream's records and data bytes.
type stotal struct{ records, bytes int64 }

// sname names a stream: a host's stream, or a file's lines in it.
type sname struct{ host, stream, file string }

// selectedBy reports whether f selects the stream's records.
func (n sname) selectedBy(f gaffer.LogFilter) bool {
	return (f.Host == "" || n.host == f.Host) && (f.Stream == "" || n.stream == string(f.Stream)) &&
		(f.File == "" || n.file == f.File)
}

// ---- encoding ----

func appendItem(b []byte, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = body(b)
	n := len(b) - start - itemHeader
	binary.LittleEndian.PutUint32(b[start:], uint32(n))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+itemHeader:], castagnoli))
	return b
}

func appendName(b []byte, id uint32, n sname) []byte {
	return appendItem(b, func(b []byte) []byte {
		kind := byte(kindName)
		if n.file != "" {
			kind = kindFileName
		}
		b = append(b, kind)
		b = binary.LittleEndian.AppendUint32(b, id)
		b = append(b, byte(len(n.stream)))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(n.host)))
		if n.file != "" {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(n.file)))
		}
		b = append(b, n.stream...)
		b = append(b, n.host...)
		return append(b, n.file...)
	})
}

func appendSEntry(b []byte, id uint32, e sentry) []byte {
	return appendItem(b, func(b []byte) []byte {
		b = append(b, kindEntry)
		b = binary.LittleEndian.AppendUint32(b, id)
		for _, v := range [...]int64{e.seq, e.off, e.ord, e.bytes} {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return binary.LittleEndian.AppendUint32(b, uint32(e.gap))
	})
}

func appendMark(b []byte, m smark, withTotals bool, ids []uint32, totals []stotal) []byte {
	return appendItem(b, func(b []byte) []byte {
		var flags byte
		if withTotals {
			flags |= markTotals
		}
		b = append(b, kindMark, flags)
		for _, v := range [...]int64{m.seq, m.off, m.ts} {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
		for _, id := range ids {
			b = binary.LittleEndian.AppendUint32(b, id)
			b = binary.LittleEndian.AppendUint64(b, uint64(totals[id].records))
			b = binary.LittleEndian.AppendUint64(b, uint64(totals[id].bytes))
		}
		return b
	})
}

// ---- building (Writer, Seal) ----

// sdxBuilder turns the records written into stream index items.
type sdxBuilder struct {
	ids         map[sname]uint32
	first       []int64 // seq of each stream's first record
	last        []int64 // seq of each stream's last record
	gap         []int64 // of each stream's last entry
	since       []int   // each stream's records since its last entry
	totals      []stotal
	changed     []uint32 // streams whose totals changed since the last totals
	sinceTotals int      // records since the last mark with totals
	isChanged   []bool
	sinceMark   int  // records since the last mark
	items       bool // items since the last mark
	lastSeq     int64
	lastTS      int64
	seg         int   // segment being written (segment.go)
	segOf       []int // segment of each stream's last entry
}

func newSdxBuilder() *sdxBuilder { return &sdxBuilder{ids: map[sname]uint32{}} }

// add appends the items for a record whose frame starts at off.
func (sb *sdxBuilder) add(b []byte, seq, ts int64, key sname, dataLen int, off int64) []byte {
	b, id := sb.stream(b, key)
	return sb.addTo(b, id, seq, ts, dataLen, off)
}

// stream returns the number of a stream, naming it if it is new.
func (sb *sdxBuilder) stream(b []byte, key sname) ([]byte, uint32) {
	if id, ok := sb.ids[key]; ok {
		return b, id
	}
	id := uint32(len(sb.last))
	sb.ids[key] = id
	sb.first = append(sb.first, 0)
	sb.last = append(sb.last, 0)
	sb.gap = append(sb.gap, MinStreamGap)
	sb.since = append(sb.since, 0)
	sb.totals = append(sb.totals, stotal{})
	sb.isChanged = append(sb.isChanged, false)
	sb.segOf = append(sb.segOf, sb.seg)
	sb.items = true
	return appendName(b, id, key), id
}

// addTo appends the items for a record of stream id (see stream) held by
// the frame at off.
func (sb *sdxBuilder) addTo(b []byte, id uint32, seq, ts int64, dataLen int, off int64) []byte {
	n := sb.totals[id].records
	if n == 0 {
		sb.first[id] = seq
	}
	if n == 0 || seq-sb.last[id] > sb.gap[id] || sb.since[id] >= StreamEvery || sb.segOf[id] != sb.seg {
		gap := int64(MinStreamGap)
		if n > 0 {
			gap = min(max(GapFactor*(seq-sb.first[id])/n, MinStreamGap), MaxStreamGap)
		}
		sb.gap[id] = gap
		b = appendSEntry(b, id, sentry{seq: seq, off: off, ord: n, bytes: sb.totals[id].bytes, gap: gap})
		sb.since[id] = 0
		sb.segOf[id] = sb.seg
		sb.items = true
	}
	sb.since[id]++
	sb.last[id] = seq
	sb.totals[id].records++
	sb.totals[id].bytes += int64(dataLen)
	if !sb.isChanged[id] {
		sb.isChanged[id] = true
		sb.changed = append(sb.changed, id)
	}
	sb.sinceMark++
	sb.sinceTotals++
	sb.lastSeq, sb.lastTS = seq, ts
	return b
}

// addRun is addTo for each record of run (consecutive seqs, all of stream
// id, in the frame at off, of time ts), with the same result: the records
// that are not due an entry (the most of them) are counted in bulk.
func (sb *sdxBuilder) addRun(b []byte, id uint32, run []gaffer.Record, ts, off int64) []byte {
	for j := 0; j < len(run); {
		b = sb.addTo(b, id, run[j].Seq, ts, len(run[j].Data), off)
		j++
		// After addTo the stream has records, its entry is in this
		// segment, and the next seq is within its gap: the records before
		// the next StreamEvery-th are no entries.
		k := min(len(run)-j, StreamEvery-sb.since[id])
		if k <= 0 {
			continue
		}
		var data int64
		for i := j; i < j+k; i++ {
			data += int64(len(run[i].Data))
		}
		last := run[j+k-1].Seq
		sb.since[id] += k
		sb.last[id] = last
		sb.totals[id].records += int64(k)
		sb.totals[id].bytes += data
		sb.sinceMark += k
		sb.sinceTotals += k
		sb.lastSeq, sb.lastTS = last, ts
		j += k
	}
	return b
}

// newSegment makes each stream's next record an entry: the first record of
// a stream in a segment always is one.
func (sb *sdxBuilder) newSegment() { sb.seg++ }

// mark appends a mark if one is due (or force), end being the offset after
// the last record added.
func (sb *sdxBuilder) mark(b []byte, end int64, force bool) []byte {
	if !force && !sb.items && sb.sinceMark < StreamEvery {
		return b
	}
	m := smark{seq: sb.lastSeq, off: end, ts: sb.lastTS}
	if !force && sb.sinceTotals < TotalsEvery {
		b = appendMark(b, m, false, nil, nil)
	} else {
		b = appendMark(b, m, true, sb.changed, sb.totals)
		for _, id := range sb.changed {
			sb.isChanged[id] = false
		}
		sb.changed = sb.changed[:0]
		sb.sinceTotals = 0
	}
	sb.sinceMark, sb.items = 0, false
	return b
}

// ---- reading ----

// streamIndex is a log's stream index as read so far, up to its last mark.
type streamIndex struct {
	mu     sync.Mutex
	fi     os.FileInfo // the file read, to notice a new one (Seal)
	parsed int64       // offset after the last mark read

	names  []sname
	ents   [][]sentry
	totals []stotal
	mark   smark // zero: nothing is described, everything is "tail"
	tmark  smark // the last mark with totals: totals count the records up to it
	noFile bool  // the first magic: the names have no files
}

// sdxView is a consistent snapshot of a stream index: slices only grow, so
// a copy of their headers stays valid.
type sdxView struct {
	names  []sname
	ents   [][]sentry
	totals []stotal // at tmark
	mark   smark    // mark.off == 0: no mark
	tmark  smark    // the last mark with totals; tmark.off == 0: none
	noFile bool     // written before files: useless to a file filter
}

// tailOff is where the records not described by the index start.
func (v *sdxView) tailOff() int64 { return max(v.mark.off, headerSize) }

// streams returns the numbers of the streams that f selects.
func (v *sdxView) streams(f gaffer.LogFilter) []int {
	var ids []int
	for id, n := range v.names {
		if n.selectedBy(f) {
			ids = append(ids, id)
		}
	}
	return ids
}

// serves reports whether the view can skip records for filter f: it
// describes some records and, for a file filter, knows files.
func (v *sdxView) serves(f gaffer.LogFilter) bool {
	return !f.Zero() && v.mark.off != 0 && (f.File == "" || !v.noFile)
}

// after returns the first entry of stream id with seq > seq.
func (v *sdxView) after(id int, seq int64) (sentry, bool) {
	es := v.ents[id]
	i := sort.Search(len(es), func(i int) bool { return es[i].seq > seq })
	if i == len(es) {
		return sentry{}, false
	}
	return es[i], true
}

// before returns the last entry of stream id with seq < seq.
func (v *sdxView) before(id int, seq int64) (int, bool) {
	es := v.ents[id]
	i := sort.Search(len(es), func(i int) bool { return es[i].seq >= seq })
	return i - 1, i > 0
}

// streamIndex returns the stream index of a job's log, read up to date; an
// empty view when the log has none (written before it existed).
func (a *Archive) streamIndex(jobID int64, lf *logFile) (sdxView, error) {
	complete := lf.complete
	paths := []string{a.sdxPath(jobID)}
	if !complete {
		// Renamed before the data file, like the index.
		paths = []string{a.sdxPath(jobID) + partial, a.sdxPath(jobID)}
	}
	var f *os.File
	for _, p := range paths {
		var err error
		if f, err = os.Open(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return sdxView{}, fmt.Errorf("open stream index of job %d: %w", jobID, err)
		}
	}
	if f == nil {
		return sdxView{}, nil
	}
	defer f.Close()

	a.mu.Lock()
	si := a.sdx[jobID]
	if si == nil {
		if len(a.sdx) >= maxCachedIndexes {
			for k := range a.sdx { // any one: the map's order is random enough
				delete(a.sdx, k)
				break
			}
		}
		si = &streamIndex{}
		if a.sdx == nil {
			a.sdx = map[int64]*streamIndex{}
		}
		a.sdx[jobID] = si
	}
	a.mu.Unlock()

	si.mu.Lock()
	defer si.mu.Unlock()
	if err := si.refresh(f, lf.size); err != nil {
		return sdxView{}, fmt.Errorf("read stream index of job %d: %w", jobID, err)
	}
	// Entries only append to their stream's slice, but the slices of
	// streams and the totals change in place: the view gets copies.
	return sdxView{names: si.names, ents: slices.Clone(si.ents), totals: slices.Clone(si.totals), mark: si.mark, tmark: si.tmark, noFile: si.noFile}, nil
}

// forget drops a job's cached stream index.
func (a *Archive) forget(jobID int64) {
	a.mu.Lock()
	delete(a.sdx, jobID)
	a.mu.Unlock()
	a.hints.forget(jobID)
	a.kept.forget(jobID)
}

// refresh reads what was appended to f since the last call. Marks past
// dataSize, the data file's size, wait: a crash may have kept the index
// and lost the end of the data.
func (si *streamIndex) refresh(f *os.File, dataSize int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if si.fi == nil || !os.SameFile(si.fi, fi) || fi.Size() < si.parsed {
		si.parsed, si.names, si.ents, si.totals, si.mark, si.tmark = 0, nil, nil, nil, smark{}, smark{}
	}
	si.fi = fi
	if si.parsed == 0 {
		magic := make([]byte, headerSize)
		if _, err := f.ReadAt(magic, 0); err != nil || string(magic) != sdxMagic && string(magic) != sdxMagicV1 {
			return nil // torn in its header, or not ours: an empty index
		}
		si.parsed, si.noFile = headerSize, string(magic) == sdxMagicV1
	}
	if fi.Size() <= si.parsed {
		return nil
	}
	buf := make([]byte, fi.Size()-si.parsed)
	n, err := f.ReadAt(buf, si.parsed)
	if err != nil && err != io.EOF {
		return err
	}
	used := si.apply(buf[:n], dataSize)
	si.parsed += int64(used)
	return nil
}

// apply decodes items from b and applies them up to the last whole mark;
// it returns the bytes used.
func (si *streamIndex) apply(b []byte, dataSize int64) int {
	used := 0
	var pendingNames []sname
	type pend struct {
		id uint32
		e  sentry
	}
	var pendingEnts []pend
	for p := 0; ; {
		body, next, ok := nextItem(b, p)
		if !ok {
			return used
		}
		p = next
		switch body[0] {
		case kindName, kindFileName:
			id, n, ok := decodeName(body)
			if !ok || int(id) != len(si.names)+len(pendingNames) || n.file != "" && si.noFile {
				return used
			}
			pendingNames = append(pendingNames, n)
		case kindEntry:
			id, e, ok := decodeSEntry(body)
			if !ok || int(id) >= len(si.names)+len(pendingNames) {
				return used
			}
			pendingEnts = append(pendingEnts, pend{id, e})
		case kindMark:
			m, hasTotals, totals, ok := decodeMark(body)
			if !ok || m.off > dataSize || m.seq < si.mark.seq {
				return used
			}
			nn := len(si.names) + len(pendingNames)
			for _, t := range totals {
				if int(t.id) >= nn {
					return used
				}
			}
			// Entries must go forward, or the index lies: stop trusting it.
			for _, pe := range pendingEnts {
				if pe.e.seq <= si.mark.seq && si.mark.off != 0 || pe.e.seq > m.seq {
					return used
				}
			}
			for _, n := range pendingNames {
				si.names = append(si.names, n)
				si.ents = append(si.ents, nil)
				si.totals = append(si.totals, stotal{})
			}
			for _, pe := range pendingEnts {
				es := si.ents[pe.id]
				if len(es) > 0 && es[len(es)-1].seq >= pe.e.seq {
					return used
				}
				si.ents[pe.id] = append(es, pe.e)
			}
			for _, t := range totals {
				si.totals[t.id] = t.stotal
			}
			if hasTotals {
				si.tmark = m
			}
			si.mark = m
			pendingNames, pendingEnts = pendingNames[:0], pendingEnts[:0]
			used = p
		default:
			return used
		}
	}
}

// nextItem returns the body of the item at p in b and the offset after it;
// ok is false at the end of b or at an item that is short, over-long or
// fails its CRC.
func nextItem(b []byte, p int) (body []byte, next int, ok bool) {
	if len(b)-p < itemHeader {
		return nil, 0, false
	}
	n := int(binary.LittleEndian.Uint32(b[p:]))
	if n < 1 || n > maxItem || len(b)-p-itemHeader < n {
		return nil, 0, false
	}
	body = b[p+itemHeader : p+itemHeader+n]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[p+4:]) {
		return nil, 0, false
	}
	return body, p + itemHeader + n, true
}

func decodeName(body []byte) (id uint32, n sname, ok bool) {
	fixed := nameFixed
	if body[0] == kindFileName {
		fixed += 2
	}
	if len(body) < fixed {
		return 0, sname{}, false
	}
	id = binary.LittleEndian.Uint32(body[1:])
	sl, hl, fl := int(body[5]), int(binary.LittleEndian.Uint16(body[6:])), 0
	if body[0] == kindFileName {
		if fl = int(binary.LittleEndian.Uint16(body[8:])); fl == 0 {
			return 0, sname{}, false
		}
	}
	if fixed+sl+hl+fl != len(body) {
		return 0, sname{}, false
	}
	rest := body[fixed:]
	return id, sname{stream: string(rest[:sl]), host: string(rest[sl : sl+hl]), file: string(rest[sl+hl:])}, true
}

func decodeSEntry(body []byte) (uint32, sentry, bool) {
	if len(body) != entryBody {
		return 0, sentry{}, false
	}
	v := func(i int) int64 { return int64(binary.LittleEndian.Uint64(body[5+8*i:])) }
	e := sentry{seq: v(0), off: v(1), ord: v(2), bytes: v(3), gap: int64(binary.LittleEndian.Uint32(body[37:]))}
	if e.off < headerSize || e.ord < 0 || e.bytes < 0 || e.gap < 1 {
		return 0, sentry{}, false
	}
	return binary.LittleEndian.Uint32(body[1:]), e, true
}

type idTotal struct {
	id uint32
	stotal
}

func decodeMark(body []byte) (m smark, hasTotals bool, totals []idTotal, ok bool) {
	if len(body) < markFixed {
		return smark{}, false, nil, false
	}
	hasTotals = body[1]&markTotals != 0
	v := func(i int) int64 { return int64(binary.LittleEndian.Uint64(body[2+8*i:])) }
	m = smark{seq: v(0), off: v(1), ts: v(2)}
	n := int(binary.LittleEndian.Uint32(body[26:]))
	if m.off < headerSize || (len(body)-markFixed)/markPerTotal != n || (len(body)-markFixed)%markPerTotal != 0 ||
		n > 0 && !hasTotals {
		return smark{}, false, nil, false
	}
	totals = make([]idTotal, n)
	for i := range totals {
		p := body[markFixed+i*markPerTotal:]
		totals[i] = idTotal{id: binary.LittleEndian.Uint32(p), stotal: stotal{
			records: int64(binary.LittleEndian.Uint64(p[4:])),
			bytes:   int64(binary.LittleEndian.Uint64(p[12:])),
		}}
	}
	return m, hasTotals, totals, true
}
