// Package archive implements gaffer.Archive with plain files in a directory:
// per job, one data file, one sparse index file and one stream index (see
// streamindex.go) that filtered reads and Summary use. A job with a
// retention (CreateRetained) has its data file cut in segments that Trim
// drops, oldest first (see segment.go); offsets below are then offsets in
// the whole the segments make.
//
// # Data file: <id>.log
//
// An 8-byte magic "GAFLOG1\n", then frames, each
//
//	u32 body length | u32 CRC-32C of body | body
//
// A frame holds one record or a batch of them. For one record the body is
// (all integers little-endian)
//
//	i64 seq | i64 ts (Unix ns, 0 for the zero time) | u8 flags (bit 0: NL,
//	bit 1: file, bit 2: alert) | u8 stream length | u16 host length | stream
//	| host | [u16 file length | file, with bit 1] | data
//
// A batch frame (flags bit 3) holds n >= 1 records that share host, stream,
// file and ts, with the seqs seq, seq+1, … seq+n-1. Its body is the same up
// to the file (bits 0 and 2 are 0), then
//
//	uvarint n | n × uvarint (data length << 2 | alert << 1 | NL) | the n
//	records' data, one after the other
//
// where each length is at most MaxData and they add up to the data's
// exactly. One Write puts in a batch
// frame each run of its records with the next seqs and the same host,
// stream, file and ts (the lines of one read of a stream), up to 1024
// records and 64 KiB of data; a run of one record gets a record's frame. So
// a short line costs its data plus one byte where the output has its
// newline, and a frame about 30 bytes plus its names, once per run: the
// data file is about the output's size, not 36 bytes more per line. Logs
// written before batch frames have record frames only and read as they
// always did (versions before them would misread a batch frame: a log
// written since cannot go back).
//
// A follow job's records name their file; a command's have none, and their
// frames are byte for byte what they were before files existed.
//
// Seqs strictly increase through the file. The first frame that is short,
// over-long, fails its CRC or is malformed ends the log: that is how a torn
// write after a crash, or a frame still being written, looks to a reader. A
// torn batch frame loses all of its records, as a Write is one write call.
//
// # Index file: <id>.idx
//
// An 8-byte magic "GAFIDX1\n", then one 20-byte entry for every 256th record
// (the 1st, the 257th, …):
//
//	i64 seq | i64 offset of the frame that holds the record | u32 CRC-32C of the 16 bytes before
//
// Read binary-searches the index for the last entry at or before the wanted
// seq and reads from the frame it points at: at most 255 records after the
// entry's, plus those before it in its frame (skipped within the frame
// without being decoded into records). It never scans from the start. An
// entry that fails its CRC (torn) ends the index. The index is only an
// accelerator: without it, reads scan from the start and stay correct.
//
// # Completion
//
// While a job runs, its files are <id>.log.partial, <id>.idx.partial and
// <id>.sdx.partial. Complete fsyncs them, renames the indexes and then the
// log to their final names, and fsyncs the directory. The final data file's presence is what
// "complete" means, so a crash never leaves a half-written file that looks
// complete; a partial log stays readable as it is, and never shows an end.
// Seal completes a partial log that a crash left behind, cutting its torn
// tail and rebuilding both indexes, so that readers of an interrupted job's
// log see its end.
package archive

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"github.com/gaffer-dev/gaffer"
)

// Limits of the format and of one Read.
const (
	// MaxData is the largest record data a log holds. Framed records are far
	// smaller (gaffer.MaxRecord); the cap keeps a torn length from making a
	// reader allocate gigabytes.
	MaxData = 16 << 20

	// DefaultReadLimit is the number of records Read returns when limit <= 0.
	DefaultReadLimit = 1000

	// IndexEvery is the number of records between index entries.
	IndexEvery = 256
)

const (
	logMagic   = "GAFLOG1\n"
	idxMagic   = "GAFIDX1\n"
	headerSize = 8 // length of both magics
	entrySize  = 20
)

// Ensure the types implement the interfaces.
var (
	_ gaffer.Archive       = (*Archive)(nil)
	_ gaffer.ArchiveWriter = (*Writer)(nil)
)

// Archive stores job logs as files in one directory.
type Archive struct {
	dir string

	mu  sync.Mutex
	sdx map[int64]*streamIndex // stream indexes read, see streamIndex

	hints readHints // where sequential Reads left off
	kept  keptFiles // data files kept open between Reads
}

// Open returns the archive kept in dir, creating dir if needed.
func Open(dir string) (*Archive, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	return &Archive{dir: dir}, nil
}

// Paths of a job's files.
func (a *Archive) logPath(jobID int64) string {
	return filepath.Join(a.dir, strconv.FormatInt(jobID, 10)+".log")
}

func (a *Archive) idxPath(jobID int64) string {
	return filepath.Join(a.dir, strconv.FormatInt(jobID, 10)+".idx")
}

const partial = ".partial"

// Create opens a new log for the job. ECONFLICT if the job already has one,
// complete or not: a log is written once.
func (a *Archive) Create(ctx context.Context, jobID int64) (gaffer.ArchiveWriter, error) {
	return a.create(jobID)
}

func (a *Archive) create(jobID int64) (*Writer, error) {
	logPath, idxPath := a.logPath(jobID), a.idxPath(jobID)
	if _, err := os.Stat(logPath); err == nil {
		return nil, gaffer.Errorf(gaffer.ECONFLICT, "job %d already has an archived log", jobID)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create log: %w", err)
	}

	// O_EXCL on the data file makes this writer its only one; the index
	// belongs to whoever holds the data file, so a stale one is truncated.
	logf, err := os.OpenFile(logPath+partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return nil, gaffer.Errorf(gaffer.ECONFLICT, "job %d already has an archived log", jobID)
	} else if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	idxf, err := os.OpenFile(idxPath+partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("create log index: %w", err)
	}
	sdxPath := a.sdxPath(jobID)
	sdxf, err := os.OpenFile(sdxPath+partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		logf.Close()
		idxf.Close()
		return nil, fmt.Errorf("create log stream index: %w", err)
	}
	a.forget(jobID)
	w := &Writer{dir: a.dir, jobID: jobID, logPath: logPath, idxPath: idxPath, sdxPath: sdxPath,
		log: logf, idx: idxf, sdx: sdxf, sb: newSdxBuilder(), off: headerSize}
	if err := w.writeMagics(); err != nil {
		return nil, err
	}
	return w, nil
}

// Delete removes every file of the job's log. It is not an error if there
// is none.
func (a *Archive) Delete(jobID int64) error {
	a.forget(jobID)
	for _, path := range []string{a.logPath(jobID), a.logPath(jobID) + partial, a.idxPath(jobID), a.idxPath(jobID) + partial,
		a.sdxPath(jobID), a.sdxPath(jobID) + partial} {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete log: %w", err)
		}
	}
	if err := os.RemoveAll(a.segDir(jobID)); err != nil {
		return fmt.Errorf("delete log: %w", err)
	}
	return nil
}

// Read returns up to limit records with seq > after (DefaultReadLimit when
// limit <= 0), stopping after the record whose Size brings the total to
// gaffer.MaxReadBytes, and whether the log is complete and nothing follows
// them. ENOTFOUND if there is no log.
func (a *Archive) Read(ctx context.Context, jobID int64, after int64, limit int) ([]gaffer.Record, bool, error) {
	return a.ReadInto(ctx, jobID, after, limit, new(gaffer.ReadBuffer))
}

// ReadInto is Read into buf's memory (gaffer.ReaderInto).
func (a *Archive) ReadInto(ctx context.Context, jobID int64, after int64, limit int, buf *gaffer.ReadBuffer) ([]gaffer.Record, bool, error) {
	s := recordSink{buf: buf, limit: readLimit(limit)}
	end, err := a.read(ctx, jobID, after, &s)
	if err != nil {
		return nil, false, err
	}
	if s.recs != nil {
		buf.Recs = s.recs
	}
	return s.recs, end, nil
}

// ReadLines is Read into l (gaffer.LinesReader).
func (a *Archive) ReadLines(ctx context.Context, jobID int64, after int64, limit int, l *gaffer.Lines) (bool, error) {
	l.Reset()
	end, err := a.read(ctx, jobID, after, &linesSink{l: l, limit: readLimit(limit)})
	if err != nil {
		l.Reset() // nothing read, as Read returns nothing
	}
	return end, err
}

// read reads the records after `after` into sink, frame by frame, while
// it has room, and reports whether the log is complete with them.
func (a *Archive) read(ctx context.Context, jobID int64, after int64, sink readSink) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	lf, err := a.openKept(jobID)
	if err != nil {
		return false, err
	}
	defer lf.close()

	// Seqs start at 1; the bounds keep after+1 from overflowing.
	after = min(max(after, 0), math.MaxInt64-1)
	off, held, hinted, epoch := a.hints.get(jobID, after+1)
	if !hinted {
		lf.openIndex(a.idxPath(jobID))
		if off, err = lf.seek(after + 1); err != nil {
			return false, fmt.Errorf("read log of job %d: %w", jobID, err)
		}
	}
	r := newFrameReader(lf.log, off)
	defer r.release()
	if held != nil && held.blk.off >= lf.start && held.blk.more() && held.blk.seq+int64(held.blk.i) == after+1 {
		// The frame the last read stopped inside: no need to read it again.
		r.resume(lf.log, held)
	}
	var (
		last  bool // the scan hit the end of the valid frames
		whole = true
	)
	for sink.room() {
		b, ok, err := r.nextBlock()
		if err != nil {
			return false, fmt.Errorf("read log of job %d: %w", jobID, err)
		}
		if hinted {
			hinted = false
			if !ok || b.seq > after+1 || b.last() < after+1 {
				// Not the frame the hint promised: search the index.
				lf.openIndex(a.idxPath(jobID))
				if off, err = lf.seek(after + 1); err != nil {
					return false, fmt.Errorf("read log of job %d: %w", jobID, err)
				}
				r.reset(lf.log, off)
				continue
			}
		}
		if !ok {
			last = true
			break
		}
		whole = sink.take(b, after)
	}
	if lastSeq := sink.last(); lastSeq > 0 {
		// The next read starts in the frame read last, held decoded, or
		// after it.
		next := r.off
		var h *heldBlock
		if whole {
			next = r.end
		} else {
			h = r.keep(held)
		}
		if !a.hints.put(jobID, after+1, lastSeq+1, next, h, epoch) && h != nil {
			r.buf = h.body // not kept: r keeps the buffer
		}
	}
	return lf.complete && whole && (last || r.end >= lf.size), nil
}

// readLimit is a read's limit: DefaultReadLimit for none.
func readLimit(limit int) int {
	if limit <= 0 {
		return DefaultReadLimit
	}
	return limit
}

// readSink takes a read's records, frame by frame.
type readSink interface {
	room() bool // it takes more records
	// take takes the frame's records after `after` that it has room for,
	// and reports whether it took them to the frame's end.
	take(b *block, after int64) bool
	last() int64 // the seq of the last record taken; 0: none
}

// recordSink takes records as Records, into buf's memory.
type recordSink struct {
	buf   *gaffer.ReadBuffer
	limit int
	recs  []gaffer.Record
	size  int // of the records, by Record.Size
	names names
}

func (s *recordSink) room() bool {
	return len(s.recs) < s.limit && s.size < gaffer.MaxReadBytes
}

func (s *recordSink) take(b *block, after int64) bool {
	if s.recs == nil {
		if n := b.readCap(after, s.limit); cap(s.buf.Recs) >= n {
			s.recs = s.buf.Recs[:0]
		} else {
			s.recs = make([]gaffer.Record, 0, n)
		}
		s.buf.Data = s.buf.Data[:0]
	}
	var whole bool
	s.recs, whole = b.appendRecords(s.recs, after, s.limit, &s.size, &s.names, s.buf)
	return whole
}

func (s *recordSink) last() int64 {
	if len(s.recs) == 0 {
		return 0
	}
	return s.recs[len(s.recs)-1].Seq
}

// linesSink takes records into gaffer.Lines.
type linesSink struct {
	l     *gaffer.Lines
	limit int
	names names
}

func (s *linesSink) room() bool {
	return s.l.Len() < s.limit && !s.l.Full()
}

func (s *linesSink) take(b *block, after int64) bool {
	return b.appendLines(s.l, after, s.limit, &s.names)
}

func (s *linesSink) last() int64 { return s.l.Last() }

// Raw writes the exact bytes host wrote to stream: each record's data, plus
// "\n" where the line ended. It streams the log, holding one record at a time.
func (a *Archive) Raw(ctx context.Context, jobID int64, host string, stream gaffer.Stream, w io.Writer) error {
	lf, err := a.open(jobID)
	if err != nil {
		return err
	}
	defer lf.close()

	r := newFrameReader(lf.log, lf.start)
	defer r.release()
	// A frame's bytes are gathered and go out in one write: up to 64 KiB
	// of data and its newlines; small frames fill buf up to rawFlush.
	var buf []byte
	for i := 0; ; i++ {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		b, ok, err := r.nextBlock()
		if err != nil {
			return fmt.Errorf("read log of job %d: %w", jobID, err)
		} else if !ok {
			break
		} else if string(b.host) != host || string(b.stream) != string(stream) {
			continue
		}
		if buf = b.appendRaw(buf); len(buf) >= rawFlush {
			// Stop at the first failed write (a viewer gone), not at the end.
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("write raw log of job %d: %w", jobID, err)
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write raw log of job %d: %w", jobID, err)
		}
	}
	return nil
}

// rawFlush is how many bytes Raw gathers before it writes them.
const rawFlush = 64 << 10

// logFile is one job's log opened for reading.
type logFile struct {
	log dataFile
	idx *os.File // nil when there is no usable index
	// idxOpened: openIndex was called (open calls it; Read only when it
	// must search).
	idxOpened bool
	complete  bool
	size      int64 // of log, when opened
	start     int64 // offset of the first frame kept (headerSize unless trimmed)
	entries   int64 // whole index entries, when opened
}

// dataFile is a log's data: one file, or its segments (segment.go).
type dataFile interface {
	io.ReaderAt
	Close() error
}

// nopFile stands for a data file that could not be opened.
type nopFile struct{}

func (nopFile) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }
func (nopFile) Close() error                      { return nil }

// open opens a job's data file, complete or partial, and its index.
func (a *Archive) open(jobID int64) (*logFile, error) {
	lf, err := a.openData(jobID)
	if err != nil {
		return nil, err
	}
	lf.openIndex(a.idxPath(jobID))
	return lf, nil
}

// openKept is openData through the kept files (keptfile.go): a plain log's
// data file stays open for the next Read.
func (a *Archive) openKept(jobID int64) (*logFile, error) {
	if kf := a.kept.acquire(jobID); kf != nil {
		complete, size, err := a.kept.state(kf, a.logPath(jobID))
		if err == nil {
			return &logFile{log: keptData{&a.kept, kf}, complete: complete, size: size, start: headerSize}, nil
		}
		a.kept.release(kf)
		a.kept.forget(jobID)
	}
	lf, err := a.openData(jobID)
	if err != nil {
		return nil, err
	}
	// Kept only once its magic says it is a plain log (a segmented log's
	// marker file is written just after the file is created).
	if f, ok := lf.log.(*os.File); ok && lf.size >= headerSize {
		lf.log = keptData{&a.kept, a.kept.keep(jobID, f, lf.complete, lf.size)}
	}
	return lf, nil
}

// openData opens a job's data file, complete or partial, but not its
// index: a Read that goes on where the last left off needs none.
func (a *Archive) openData(jobID int64) (*logFile, error) {
	logPath := a.logPath(jobID)
	lf := &logFile{}
	// Complete renames the partial file away between our two opens at most
	// once, so a second round finds the final file.
	for range 2 {
		f, err := os.Open(logPath)
		if err == nil {
			lf.log, lf.complete = f, true
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open log of job %d: %w", jobID, err)
		}
		if f, err = os.Open(logPath + partial); err == nil {
			lf.log = f
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open log of job %d: %w", jobID, err)
		}
	}
	if lf.log == nil {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no log archived for job %d", jobID)
	}

	fi, err := lf.log.(*os.File).Stat()
	if err != nil {
		lf.close()
		return nil, fmt.Errorf("open log of job %d: %w", jobID, err)
	}
	lf.size, lf.start = fi.Size(), headerSize
	if lf.size >= headerSize {
		magic := make([]byte, headerSize)
		if _, err := lf.log.ReadAt(magic, 0); err != nil {
			lf.close()
			return nil, fmt.Errorf("open log of job %d: %w", jobID, err)
		} else if string(magic) == segMagic {
			// A segmented log (segment.go): the data is in its segments.
			lf.log.Close()
			segs, err := openSegments(a.segDir(jobID))
			if err != nil {
				lf.log = nopFile{}
				lf.close()
				return nil, fmt.Errorf("open log of job %d: %w", jobID, err)
			}
			lf.log, lf.size, lf.start = segs, segs.end, max(segs.start(), headerSize)
			if lf.size >= headerSize && segs.start() == 0 {
				if _, err := lf.log.ReadAt(magic, 0); err != nil || string(magic) != logMagic {
					lf.close()
					return nil, fmt.Errorf("open log of job %d: not a gaffer log", jobID)
				}
			}
		} else if string(magic) != logMagic {
			lf.close()
			return nil, fmt.Errorf("open log of job %d: not a gaffer log", jobID)
		}
	}

	return lf, nil
}

// openIndex opens the log's index, once; without one (none, or not
// usable), seek starts at the first frame.
func (lf *logFile) openIndex(idxPath string) {
	if lf.idxOpened {
		return
	}
	lf.idxOpened = true
	// The index is renamed before the data file, so a partial data file may
	// already have a final index. Any problem with it only costs speed.
	paths := []string{idxPath}
	if !lf.complete {
		paths = []string{idxPath + partial, idxPath}
	}
	for _, path := range paths {
		if f, err := os.Open(path); err == nil {
			lf.idx = f
			break
		}
	}
	if lf.idx != nil {
		magic := make([]byte, headerSize)
		fi, err := lf.idx.Stat()
		if err != nil || fi.Size() < headerSize {
			lf.dropIndex()
		} else if _, err := lf.idx.ReadAt(magic, 0); err != nil || string(magic) != idxMagic {
			lf.dropIndex()
		} else {
			lf.entries = (fi.Size() - headerSize) / entrySize
		}
	}
}

func (lf *logFile) dropIndex() {
	lf.idx.Close()
	lf.idx, lf.entries = nil, 0
}

func (lf *logFile) close() {
	lf.log.Close()
	if lf.idx != nil {
		lf.idx.Close()
	}
}

// seek returns the offset of a frame at or before the one with seq `seq`,
// at most IndexEvery-1 frames before it: the last index entry with a seq no
// greater, or the first frame. It reads O(log n) index entries.
func (lf *logFile) seek(seq int64) (int64, error) {
	e, err := lf.seekEntry(seq)
	return e.off, err
}

// seekEntry returns the last index entry with a seq no greater than seq,
// or {0, lf.start} (the first frame kept) if there is none.
func (lf *logFile) seekEntry(seq int64) (entry, error) {
	var err error
	// Entries that fail their CRC are torn, and only the tail of the index
	// can be torn: treating them as after everything keeps the search sound.
	i := sort.Search(int(lf.entries), func(i int) bool {
		e, ok, rerr := lf.entry(int64(i))
		if rerr != nil {
			err = rerr
		}
		return !ok || e.seq > seq
	})
	if err != nil {
		return entry{}, err
	} else if i == 0 {
		return entry{off: lf.start}, nil
	}
	e, _, err := lf.entry(int64(i - 1))
	if err != nil {
		return entry{}, err
	} else if e.off < lf.start {
		// Trimmed (segment.go): the first frame kept is the nearest.
		return entry{off: lf.start}, nil
	}
	return e, nil
}

type entry struct{ seq, off int64 }

// firstKeptEntry returns the number of the first index entry at or after
// the first frame kept: 0 unless the log was trimmed.
func (lf *logFile) firstKeptEntry() (int, error) {
	if lf.start <= headerSize {
		return 0, nil
	}
	var err error
	i := sort.Search(int(lf.entries), func(i int) bool {
		e, ok, rerr := lf.entry(int64(i))
		if rerr != nil {
			err = rerr
		}
		return !ok || e.off >= lf.start
	})
	return i, err
}

// entry reads index entry i; ok is false if it is torn.
func (lf *logFile) entry(i int64) (entry, bool, error) {
	var b [entrySize]byte
	if _, err := lf.idx.ReadAt(b[:], headerSize+i*entrySize); err != nil {
		return entry{}, false, err
	}
	if crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return entry{}, false, nil
	}
	e := entry{seq: int64(binary.LittleEndian.Uint64(b[0:])), off: int64(binary.LittleEndian.Uint64(b[8:]))}
	return e, e.off >= headerSize, nil
}

func appendEntry(b []byte, e entry) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.seq))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.off))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}
