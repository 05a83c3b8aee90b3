package archive

// Segmented logs: the data file of a log with a retention (a job's
// "retain"), cut in segments that Trim drops whole, oldest first.
//
// # Layout
//
// <id>.log (or <id>.log.partial while the job runs) holds only the magic
// "GAFSEG1\n": the data is in the directory <id>.seg, one file per segment,
// named by the offset of its first byte as 16 lowercase hex digits. The
// segments, in order, are the bytes of one data file in the format above
// (the first starts with "GAFLOG1\n"): offsets in the index and the stream
// index are offsets in that whole, so they stay valid when old segments go.
// A frame never spans two segments; the writer starts a new one between
// writes once the current one holds SegmentBytes (or, for a retention by
// age, holds records older than an eighth of it).
//
// Readers list the directory and read the run of segments from the oldest
// one there: a segment that ends before the next one's first byte (a crash
// lost its tail) ends the log, as a torn frame does. The records before the
// oldest segment are gone: reads start at its first frame, and index
// entries pointing before it count as that frame. Trim removes segments
// oldest first and syncs the directory after each, so a crash leaves a run
// that starts later, never a hole. The index and stream index are not
// trimmed: they grow by a few bytes per 256 records.
//
// Complete, Seal and Delete treat the marker as they treat a data file;
// Seal cuts the last segment after its last whole frame.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

const segMagic = "GAFSEG1\n"

// Segment sizes: a retention by size has segments of an eighth of it,
// within these bounds; one by age rolls at MaxSegmentBytes at most.
const (
	MinSegmentBytes = 64 << 10
	MaxSegmentBytes = 64 << 20
	ageSegmentBytes = 256 << 20
)

// segmentLimits returns when a retained log's writer starts a new segment.
func segmentLimits(keep gaffer.Retention) (maxBytes int64, age time.Duration) {
	maxBytes = ageSegmentBytes
	if keep.Bytes > 0 {
		maxBytes = min(max(keep.Bytes/8, MinSegmentBytes), MaxSegmentBytes)
	}
	if keep.Age > 0 {
		age = keep.Age / 8
	}
	return maxBytes, age
}

func (a *Archive) segDir(jobID int64) string {
	return filepath.Join(a.dir, strconv.FormatInt(jobID, 10)+".seg")
}

func segName(base int64) string { return fmt.Sprintf("%016x", base) }

// listSegments returns the bases of the segments in dir, in order.
func listSegments(dir string) ([]int64, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var bases []int64
	for _, de := range des {
		if n := de.Name(); len(n) == 16 {
			if b, err := strconv.ParseInt(n, 16, 64); err == nil && b >= 0 {
				bases = append(bases, b)
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// segments reads the segments of a log as one data file (io.ReaderAt). It
// opens the first and the last segment at once and the others when read.
type segments struct {
	dir   string
	bases []int64
	end   int64 // of the last segment, when opened

	mu    sync.Mutex
	files []*os.File // nil: not opened yet
	gone  int        // segments that vanished when opened (trimmed): reads end there
}

// openSegments opens the run of segments in dir. A segment trimmed between
// the listing and its opening makes it list again.
func openSegments(dir string) (*segments, error) {
	for try := 0; ; try++ {
		bases, err := listSegments(dir)
		if err != nil {
			return nil, err
		}
		s := &segments{dir: dir, bases: bases, files: make([]*os.File, len(bases)), gone: len(bases)}
		if len(bases) == 0 {
			return s, nil
		}
		first, ferr := os.Open(filepath.Join(dir, segName(bases[0])))
		if errors.Is(ferr, fs.ErrNotExist) && try < 3 {
			continue
		} else if ferr != nil {
			return nil, ferr
		}
		s.files[0] = first
		last := len(bases) - 1
		if last > 0 {
			f, err := os.Open(filepath.Join(dir, segName(bases[last])))
			if err != nil {
				s.Close()
				return nil, err
			}
			s.files[last] = f
		}
		fi, err := s.files[last].Stat()
		if err != nil {
			s.Close()
			return nil, err
		}
		s.end = bases[last] + fi.Size()
		return s, nil
	}
}

// start is the offset of the first byte kept.
func (s *segments) start() int64 {
	if len(s.bases) == 0 {
		return 0
	}
	return s.bases[0]
}

// file returns segment i, opening it; nil when it is gone (trimmed since).
func (s *segments) file(i int) (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= s.gone {
		return nil, nil
	} else if s.files[i] != nil {
		return s.files[i], nil
	}
	f, err := os.Open(filepath.Join(s.dir, segName(s.bases[i])))
	if errors.Is(err, fs.ErrNotExist) {
		s.gone = i
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	s.files[i] = f
	return f, nil
}

// ReadAt reads the whole at off. Before the first segment, past a segment
// cut short (torn by a crash) or one trimmed since the listing, it is the
// end: io.EOF.
func (s *segments) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		i := sort.Search(len(s.bases), func(i int) bool { return s.bases[i] > off }) - 1
		if i < 0 {
			return n, io.EOF
		}
		f, err := s.file(i)
		if err != nil {
			return n, err
		} else if f == nil {
			return n, io.EOF
		}
		want := p[n:]
		last := i == len(s.bases)-1
		if !last {
			want = want[:min(int64(len(want)), s.bases[i+1]-off)]
		}
		k, err := f.ReadAt(want, off-s.bases[i])
		n += k
		off += int64(k)
		if err == io.EOF || k < len(want) {
			// The end of the last segment, or a segment cut short.
			return n, io.EOF
		} else if err != nil {
			return n, err
		} else if last {
			return n, nil
		}
	}
	return n, nil
}

func (s *segments) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f != nil {
			f.Close()
		}
	}
	return nil
}

// segWriter is what a Writer of a segmented log keeps about its segments.
type segWriter struct {
	dir       string
	maxBytes  int64
	age       time.Duration
	segs      []segInfo // oldest first; the last one is being written
	dirSynced bool      // the directory, since the last segment was created
	trimMu    sync.Mutex
	first     int64 // oldest seq kept, once a segment was dropped
}

type segInfo struct {
	base     int64
	firstSeq int64     // 0: no record yet
	ts       time.Time // its first record's TS, or when that was written
}

// CreateRetained opens a new log for a job that keeps only part of its
// history (see Writer.Trim): a segmented log. With a zero keep it is Create.
func (a *Archive) CreateRetained(ctx context.Context, jobID int64, keep gaffer.Retention) (gaffer.ArchiveWriter, error) {
	if keep.Zero() {
		return a.create(jobID)
	}
	return a.createSegmented(jobID, keep)
}

func (a *Archive) createSegmented(jobID int64, keep gaffer.Retention) (*Writer, error) {
	logPath, idxPath, sdxPath, dir := a.logPath(jobID), a.idxPath(jobID), a.sdxPath(jobID), a.segDir(jobID)
	if _, err := os.Stat(logPath); err == nil {
		return nil, gaffer.Errorf(gaffer.ECONFLICT, "job %d already has an archived log", jobID)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create log: %w", err)
	}
	// As for a single file: O_EXCL on the marker makes this writer the
	// only one, and what it finds of the rest is stale.
	marker, err := os.OpenFile(logPath+partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return nil, gaffer.Errorf(gaffer.ECONFLICT, "job %d already has an archived log", jobID)
	} else if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	_, err = marker.Write([]byte(segMagic))
	if cerr := marker.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.RemoveAll(dir)
	}
	if err == nil {
		err = os.Mkdir(dir, 0o750)
	}
	var logf *os.File
	if err == nil {
		logf, err = os.OpenFile(filepath.Join(dir, segName(0)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	}
	if err != nil {
		os.Remove(logPath + partial)
		return nil, fmt.Errorf("create log: %w", err)
	}
	w := &Writer{dir: a.dir, jobID: jobID, logPath: logPath, idxPath: idxPath, sdxPath: sdxPath,
		log: logf, sb: newSdxBuilder(), off: headerSize}
	maxBytes, age := segmentLimits(keep)
	w.seg = &segWriter{dir: dir, maxBytes: maxBytes, age: age, segs: []segInfo{{base: 0}}}
	if w.idx, err = os.OpenFile(idxPath+partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640); err != nil {
		logf.Close()
		return nil, fmt.Errorf("create log index: %w", err)
	}
	if w.sdx, err = os.OpenFile(sdxPath+partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640); err != nil {
		logf.Close()
		w.idx.Close()
		return nil, fmt.Errorf("create log stream index: %w", err)
	}
	a.forget(jobID)
	if err := w.writeMagics(); err != nil {
		return nil, err
	}
	return w, nil
}

// rollDue reports whether a write starting with a record of time t starts
// a new segment.
func (w *Writer) rollDue(t time.Time) bool {
	cur := &w.seg.segs[len(w.seg.segs)-1]
	if cur.firstSeq == 0 {
		return false
	}
	return w.off-cur.base >= w.seg.maxBytes || w.seg.age > 0 && t.Sub(cur.ts) >= w.seg.age
}

// roll starts a new segment at w.off. The stream index gets a mark with
// totals there first, and an entry for each stream's first record in the
// new segment: Summary subtracts what went before a segment from those.
func (w *Writer) roll() error {
	// The segment ends: its data is made durable now, since a Sync syncs
	// only the file being written.
	if err := syncFile(w.log); err != nil {
		return fmt.Errorf("sync log of job %d: %w", w.jobID, err)
	}
	if _, err := w.sdx.Write(w.sb.mark(w.sbuf[:0], w.off, true)); err != nil {
		return fmt.Errorf("write log stream index of job %d: %w", w.jobID, err)
	}
	w.sb.newSegment()
	f, err := os.OpenFile(filepath.Join(w.seg.dir, segName(w.off)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("write log of job %d: %w", w.jobID, err)
	}
	w.log.Close()
	w.log = f
	w.seg.segs = append(w.seg.segs, segInfo{base: w.off})
	w.seg.dirSynced = false
	return nil
}

// segmentBatch starts a new segment if one is due, and returns how many of
// recs go into the current segment (at least one).
func (w *Writer) segmentBatch(recs []gaffer.Record) (int, error) {
	// Segments age by their records' time (the time of writing for
	// records without one).
	t := recs[0].TS
	if t.IsZero() {
		t = time.Now()
	}
	if w.rollDue(t) {
		if err := w.roll(); err != nil {
			return 0, err
		}
	}
	cur := &w.seg.segs[len(w.seg.segs)-1]
	if cur.firstSeq == 0 {
		cur.firstSeq, cur.ts = recs[0].Seq, t
	}
	// Cut between frames, as write will make them.
	size := w.off - cur.base
	for i := 0; i < len(recs); {
		if i > 0 && size >= w.seg.maxBytes {
			return i, nil
		}
		n := runLen(recs[i:])
		size += int64(runSize(recs[i : i+n]))
		i += n
	}
	return len(recs), nil
}

var _ gaffer.ArchiveTrimmer = (*Writer)(nil)

// Trim drops the oldest segments of a segmented log while the rest keeps
// what keep asks: a segment goes when the segments after it hold at least
// keep.Bytes, or when the next one's first record is older than keep.Age
// (so all of it is, as records come nearly in time order). The segment
// being written never goes. It returns the oldest seq kept, 0 if nothing
// was ever dropped (always, for a log in a single file). Writes wait for it
// only while it decides, not while files are removed.
func (w *Writer) Trim(keep gaffer.Retention, now time.Time) (int64, error) {
	if w.seg == nil {
		return 0, nil
	}
	w.seg.trimMu.Lock()
	defer w.seg.trimMu.Unlock()

	w.mu.Lock()
	if w.closed || w.completed {
		w.mu.Unlock()
		return w.seg.first, nil
	}
	segs, end := w.seg.segs, w.off
	n := 0
	for n < len(segs)-1 {
		next := segs[n+1]
		byBytes := keep.Bytes > 0 && end-next.base >= keep.Bytes
		byAge := keep.Age > 0 && next.firstSeq != 0 && next.ts.Before(now.Add(-keep.Age))
		if !byBytes && !byAge {
			break
		}
		n++
	}
	drop := append([]segInfo(nil), segs[:n]...)
	w.mu.Unlock()

	// Oldest first, each removal durable before the next: a crash leaves
	// the newest segments, without a hole.
	var err error
	done := 0
	for _, s := range drop {
		if err = os.Remove(filepath.Join(w.seg.dir, segName(s.base))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("trim log of job %d: %w", w.jobID, err)
			break
		} else if err = syncDir(w.seg.dir); err != nil {
			err = fmt.Errorf("trim log of job %d: %w", w.jobID, err)
			break
		}
		done++
	}
	if done > 0 {
		w.mu.Lock()
		w.seg.segs = w.seg.segs[done:]
		w.seg.first = w.seg.segs[0].firstSeq
		w.mu.Unlock()
	}
	return w.seg.first, err
}

// sealSegments seals a segmented log (see Seal): it cuts the run of
// segments after its last whole frame, removes any segment past that, and
// rebuilds the indexes of what is kept.
func (a *Archive) sealSegments(ctx context.Context, jobID int64) error {
	dir := a.segDir(jobID)
	segs, err := openSegments(dir)
	if err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	}
	defer segs.Close()
	if len(segs.bases) > 0 && segs.start() == 0 {
		magic := make([]byte, headerSize)
		if _, err := segs.ReadAt(magic, 0); errors.Is(err, io.EOF) {
			// Torn in its header: nothing was written after it.
			if err := writeSynced(filepath.Join(dir, segName(0)), []byte(logMagic)); err != nil {
				return fmt.Errorf("seal log of job %d: %w", jobID, err)
			}
		} else if err != nil {
			return fmt.Errorf("seal log of job %d: %w", jobID, err)
		} else if string(magic) != logMagic {
			return fmt.Errorf("seal log of job %d: not a gaffer log", jobID)
		}
	}
	end, idx, sdx, err := rebuildIndexes(ctx, segs, max(segs.start(), headerSize))
	if err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	}
	for i, base := range segs.bases {
		path := filepath.Join(dir, segName(base))
		if i > 0 && base >= end {
			err = os.Remove(path)
		} else if i == len(segs.bases)-1 || segs.bases[i+1] >= end {
			err = truncateSynced(path, end-base)
		}
		if err != nil {
			return fmt.Errorf("seal log of job %d: %w", jobID, err)
		}
	}
	if err := syncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	}
	return a.sealIndexes(jobID, idx, sdx)
}

func truncateSynced(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}
