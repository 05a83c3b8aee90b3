package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/gaffer-dev/gaffer"
)

// Reopen opens a job's partial log for appending again, as a restarted
// server does to go on with a follow job: the data file is cut after its
// last whole record (a crash may have torn the last one), both indexes are
// rebuilt from the data (they may be behind it, or torn), and the writer
// continues after the last record, whose seq it returns (0 for none).
//
// ECONFLICT if the log is complete, ENOTFOUND if there is none. A log cut
// in segments (a job with a retention, segment.go) is refused with
// EINVALID: its writer is not rebuilt here. No other writer may have the
// log open.
func (a *Archive) Reopen(ctx context.Context, jobID int64) (gaffer.ArchiveWriter, int64, error) {
	w, err := a.reopen(ctx, jobID)
	if err != nil {
		return nil, 0, err
	}
	return w, w.last, nil
}

func (a *Archive) reopen(ctx context.Context, jobID int64) (*Writer, error) {
	logPath, idxPath, sdxPath := a.logPath(jobID), a.idxPath(jobID), a.sdxPath(jobID)
	if _, err := os.Stat(logPath); err == nil {
		return nil, gaffer.Errorf(gaffer.ECONFLICT, "the log of job %d is complete: it cannot be written again", jobID)
	}
	logf, err := os.OpenFile(logPath+partial, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no log archived for job %d", jobID)
	} else if err != nil {
		return nil, fmt.Errorf("reopen log of job %d: %w", jobID, err)
	}
	fail := func(err error) (*Writer, error) {
		logf.Close()
		return nil, fmt.Errorf("reopen log of job %d: %w", jobID, err)
	}

	magic := make([]byte, headerSize)
	if _, err := logf.ReadAt(magic, 0); errors.Is(err, io.EOF) {
		// Torn in its header: nothing was written after it.
		if err := logf.Truncate(0); err != nil {
			return fail(err)
		} else if _, err := logf.Write([]byte(logMagic)); err != nil {
			return fail(err)
		}
	} else if err != nil {
		return fail(err)
	} else if string(magic) == segMagic {
		logf.Close()
		return nil, gaffer.Errorf(gaffer.EINVALID, "the log of job %d keeps a window of its history (retain): it cannot be reopened for writing", jobID)
	} else if string(magic) != logMagic {
		return fail(errors.New("not a gaffer log"))
	}

	rb, err := rebuild(ctx, logf, headerSize)
	if err != nil {
		return fail(err)
	}
	// Cut the torn tail, then replace the indexes by those of what is
	// left: the data first, so an index never points past it.
	if err := logf.Truncate(rb.end); err != nil {
		return fail(err)
	} else if err := logf.Sync(); err != nil {
		return fail(err)
	} else if err := writeSynced(idxPath+partial, rb.idx); err != nil {
		return fail(err)
	} else if err := writeSynced(sdxPath+partial, rb.sdx); err != nil {
		return fail(err)
	}
	a.forget(jobID) // the stream index read before is another file now

	idxf, err := os.OpenFile(idxPath+partial, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fail(err)
	}
	sdxf, err := os.OpenFile(sdxPath+partial, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		idxf.Close()
		return fail(err)
	}
	return &Writer{dir: a.dir, jobID: jobID, logPath: logPath, idxPath: idxPath, sdxPath: sdxPath,
		log: logf, idx: idxf, sdx: sdxf, sb: rb.sb, off: rb.end, n: rb.n, last: rb.last}, nil
}
