package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/gaffer-dev/gaffer"
)

// Writer appends to one job's partial log. Each Write reaches the file with
// one write call and nothing is buffered between calls, so a Read in the same
// process sees the records as soon as Write returns.
type Writer struct {
	dir              string
	jobID            int64
	logPath, idxPath string // final names
	sdxPath          string
	seg              *segWriter // nil: a single data file

	mu              sync.Mutex
	log, idx, sdx   *os.File
	sb              *sdxBuilder
	off             int64 // end of the data file
	n               int64 // records written
	last            int64 // seq of the last record written
	buf, ibuf, sbuf []byte
	err             error // the first write error: the files can no longer be trusted
	// written is where the kernel was last asked to start writing the
	// data file to disk (startWriteback): the Sync at a run's end then
	// waits for the last few MiB, not for all of a big log.
	written   int64
	dirSynced bool
	completed bool
	closed    bool
}

// Write appends records. Their seqs must increase, and continue after the
// last record written; Write rejects the whole batch with EINVALID otherwise.
func (w *Writer) Write(recs []gaffer.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	last := w.last
	for i := range recs {
		r := &recs[i]
		if r.Seq <= last {
			return gaffer.Errorf(gaffer.EINVALID, "archive of job %d: record seq %d after seq %d", w.jobID, r.Seq, last)
		} else if len(r.Data) > MaxData {
			return gaffer.Errorf(gaffer.EINVALID, "archive of job %d: record %d holds %d bytes, more than %d", w.jobID, r.Seq, len(r.Data), MaxData)
		} else if len(r.Host) > 1<<16-1 || len(r.Stream) > 1<<8-1 {
			return gaffer.Errorf(gaffer.EINVALID, "archive of job %d: record %d has a host or stream name too long", w.jobID, r.Seq)
		}
		last = r.Seq
	}
	for len(recs) > 0 {
		n := len(recs)
		if w.seg != nil {
			// A segment ends between writes: a big batch is cut.
			var err error
			if n, err = w.segmentBatch(recs); err != nil {
				w.err = err
				return err
			}
		}
		if err := w.write(recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// write appends records checked by Write in one write call.
func (w *Writer) write(recs []gaffer.Record) error {
	last := recs[len(recs)-1].Seq
	buf, ibuf, sbuf := w.buf[:0], w.ibuf[:0], w.sbuf[:0]
	for i := 0; i < len(recs); {
		run := recs[i : i+runLen(recs[i:])]
		off := w.off + int64(len(buf))
		// Index entries point at the frame that holds their record.
		for j := (IndexEvery - (w.n+int64(i))%IndexEvery) % IndexEvery; j < int64(len(run)); j += IndexEvery {
			ibuf = appendEntry(ibuf, entry{seq: run[j].Seq, off: off})
		}
		r0 := &run[0]
		ts := tsNano(r0.TS)
		var id uint32
		sbuf, id = w.sb.stream(sbuf, sname{r0.Host, string(r0.Stream), r0.File})
		sbuf = w.sb.addRun(sbuf, id, run, ts, off)
		buf = appendRun(buf, run)
		i += len(run)
	}
	sbuf = w.sb.mark(sbuf, w.off+int64(len(buf)), false)
	// Keep a moderate buffer for the next batch, not the largest ever seen.
	if cap(buf) <= 1<<20 {
		w.buf, w.ibuf, w.sbuf = buf, ibuf, sbuf
	}

	// Data first, then the index entries that point into it: a reader never
	// follows an entry to data that was not written.
	if _, err := w.log.Write(buf); err != nil {
		// Cut a partial frame away if we can; readers stop at it anyway.
		w.log.Truncate(w.off)
		w.err = fmt.Errorf("write log of job %d: %w", w.jobID, err)
		return w.err
	}
	w.off += int64(len(buf))
	w.n += int64(len(recs))
	w.last = last
	if w.off-w.written >= writebackEvery {
		base := w.fileBase()
		from := max(w.written, base)
		startWriteback(w.log, from-base, w.off-from)
		w.written = w.off
	}
	if len(ibuf) > 0 {
		if _, err := w.idx.Write(ibuf); err != nil {
			w.err = fmt.Errorf("write log index of job %d: %w", w.jobID, err)
			return w.err
		}
	}
	if len(sbuf) > 0 {
		if _, err := w.sdx.Write(sbuf); err != nil {
			w.err = fmt.Errorf("write log stream index of job %d: %w", w.jobID, err)
			return w.err
		}
	}
	return nil
}

// syncFile makes a file's data durable (a variable so that tests can see
// which files were synced).
var syncFile = (*os.File).Sync

// writebackEvery is how much data the writer lets pile up in the page
// cache before it starts writing it out.
const writebackEvery = 4 << 20

// fileBase is the offset in the log where the data file being written
// starts (a segment's; 0 for a log in a single file).
func (w *Writer) fileBase() int64 {
	if w.seg == nil {
		return 0
	}
	return w.seg.segs[len(w.seg.segs)-1].base
}

func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	} else if w.completed || w.closed {
		return gaffer.Errorf(gaffer.EINVALID, "archive of job %d is closed for writing", w.jobID)
	}
	return nil
}

// Sync makes everything written so far durable, including the files' names
// in the directory.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	return w.sync()
}

func (w *Writer) sync() error {
	if err := syncFile(w.log); err != nil {
		return fmt.Errorf("sync log of job %d: %w", w.jobID, err)
	} else if err := w.idx.Sync(); err != nil {
		return fmt.Errorf("sync log index of job %d: %w", w.jobID, err)
	} else if err := w.sdx.Sync(); err != nil {
		return fmt.Errorf("sync log stream index of job %d: %w", w.jobID, err)
	}
	if !w.dirSynced {
		if err := syncDir(w.dir); err != nil {
			return fmt.Errorf("sync log of job %d: %w", w.jobID, err)
		}
		w.dirSynced = true
	}
	if w.seg != nil && !w.seg.dirSynced {
		if err := syncDir(w.seg.dir); err != nil {
			return fmt.Errorf("sync log of job %d: %w", w.jobID, err)
		}
		w.seg.dirSynced = true
	}
	return nil
}

// Complete makes the log durable and gives its files their final names: the
// index first, the data file last, since the final data file is what marks
// the log complete. A second Complete does nothing.
func (w *Writer) Complete() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.completed {
		return nil
	} else if err := w.usable(); err != nil {
		return err
	}
	// A last mark describes every record: readers of the complete log
	// scan none.
	if _, err := w.sdx.Write(w.sb.mark(w.sbuf[:0], w.off, true)); err != nil {
		return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
	}
	if err := syncFile(w.log); err != nil {
		return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
	} else if err := w.idx.Sync(); err != nil {
		return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
	} else if err := w.sdx.Sync(); err != nil {
		return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
	} else if w.seg != nil {
		if err := syncDir(w.seg.dir); err != nil {
			return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
		}
	}
	w.completed = true
	if err := w.closeFiles(); err != nil {
		return err
	}

	if err := os.Rename(w.idxPath+partial, w.idxPath); err != nil {
		return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
	} else if err := os.Rename(w.sdxPath+partial, w.sdxPath); err != nil {
		return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
	} else if err := os.Rename(w.logPath+partial, w.logPath); err != nil {
		return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
	} else if err := syncDir(w.dir); err != nil {
		return fmt.Errorf("complete log of job %d: %w", w.jobID, err)
	}
	return nil
}

// Close releases the writer. Unless Complete was called the log stays
// partial, readable as far as it was written.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.completed || w.closed {
		return nil
	}
	w.closed = true
	return w.closeFiles()
}

// writeMagics starts the data file (or first segment) and both indexes.
func (w *Writer) writeMagics() error {
	if _, err := w.log.Write([]byte(logMagic)); err != nil {
		w.closeFiles()
		return fmt.Errorf("create log: %w", err)
	} else if _, err := w.idx.Write([]byte(idxMagic)); err != nil {
		w.closeFiles()
		return fmt.Errorf("create log index: %w", err)
	} else if _, err := w.sdx.Write([]byte(sdxMagic)); err != nil {
		w.closeFiles()
		return fmt.Errorf("create log stream index: %w", err)
	}
	return nil
}

func (w *Writer) closeFiles() error {
	err := w.log.Close()
	if ierr := w.idx.Close(); err == nil {
		err = ierr
	}
	if serr := w.sdx.Close(); err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("close log of job %d: %w", w.jobID, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Seal completes a log left partial with no writer, as a crash leaves one:
// it cuts the data file after its last whole record, rebuilds the index
// and the stream index, and renames them as Complete does. Sealing a
// complete log does nothing. It must not be called while a Writer still
// has the log open.
func (a *Archive) Seal(ctx context.Context, jobID int64) error {
	logPath := a.logPath(jobID)
	if _, err := os.Stat(logPath); err == nil {
		return nil
	}
	f, err := os.OpenFile(logPath+partial, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return gaffer.Errorf(gaffer.ENOTFOUND, "no log archived for job %d", jobID)
	} else if err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	}
	defer f.Close()

	magic := make([]byte, headerSize)
	if _, err := f.ReadAt(magic, 0); errors.Is(err, io.EOF) {
		// Torn in its header: nothing was written after it.
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("seal log of job %d: %w", jobID, err)
		} else if _, err := f.WriteAt([]byte(logMagic), 0); err != nil {
			return fmt.Errorf("seal log of job %d: %w", jobID, err)
		}
	} else if err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	} else if string(magic) == segMagic {
		return a.sealSegments(ctx, jobID)
	} else if string(magic) != logMagic {
		return fmt.Errorf("seal log of job %d: not a gaffer log", jobID)
	}

	end, idx, sdx, err := rebuildIndexes(ctx, f, headerSize)
	if err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	}
	if err := f.Truncate(end); err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	} else if err := f.Sync(); err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	}
	return a.sealIndexes(jobID, idx, sdx)
}

// rebuildIndexes reads the whole frames of a data file from the frame at
// off, and returns where they end and both indexes of them.
func rebuildIndexes(ctx context.Context, data io.ReaderAt, off int64) (end int64, idx, sdx []byte, err error) {
	rb, err := rebuild(ctx, data, off)
	if err != nil {
		return 0, nil, nil, err
	}
	return rb.end, rb.idx, rb.sdx, nil
}

// rebuilt is what rebuild found: a writer continues from it (reopen.go).
type rebuilt struct {
	end      int64  // after the last whole frame
	idx, sdx []byte // both indexes, the stream index ending with a mark
	sb       *sdxBuilder
	n, last  int64 // records, and the last one's seq
}

// rebuild reads the whole frames of a data file from the frame at off.
func rebuild(ctx context.Context, data io.ReaderAt, off int64) (rebuilt, error) {
	idx, sdx := []byte(idxMagic), []byte(sdxMagic)
	sb := newSdxBuilder()
	r := newFrameReader(data, off)
	defer r.release()
	var n, marked, last int64
	for i := 0; ; i++ {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return rebuilt{}, err
			}
		}
		b, ok, err := r.nextBlock()
		if err != nil {
			return rebuilt{}, err
		} else if !ok {
			break
		} else if b.seq <= last {
			r.end = b.off
			break
		}
		var id uint32
		sdx, id = sb.stream(sdx, sname{string(b.host), string(b.stream), string(b.file)})
		for b.more() {
			f := b.next()
			if n%IndexEvery == 0 {
				idx = appendEntry(idx, entry{seq: f.seq, off: b.off})
			}
			sdx = sb.addTo(sdx, id, f.seq, f.ts, len(f.data), b.off)
			n++
		}
		// Marks go between frames: everything before the offset is described.
		if n-marked >= StreamEvery {
			sdx = sb.mark(sdx, r.end, false)
			marked = n
		}
		last = b.last()
	}
	return rebuilt{end: r.end, idx: idx, sdx: sb.mark(sdx, r.end, true), sb: sb, n: n, last: last}, nil
}

// sealIndexes writes a sealed log's indexes and renames its files as
// Complete does: the data file (or marker) last.
func (a *Archive) sealIndexes(jobID int64, idx, sdx []byte) error {
	logPath, idxPath, sdxPath := a.logPath(jobID), a.idxPath(jobID), a.sdxPath(jobID)
	if err := writeSynced(idxPath+partial, idx); err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	} else if err := writeSynced(sdxPath+partial, sdx); err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	}

	a.forget(jobID)
	if err := os.Rename(idxPath+partial, idxPath); err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	} else if err := os.Rename(sdxPath+partial, sdxPath); err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	} else if err := os.Rename(logPath+partial, logPath); err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	} else if err := syncDir(a.dir); err != nil {
		return fmt.Errorf("seal log of job %d: %w", jobID, err)
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	} else if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
