package archive

import (
	"os"
	"sync"
	"time"
)

// keptFiles keeps the data files of plain (not segmented) logs open
// between Reads: a viewer reading a long log does it in thousands of
// pieces, and opening the file for each piece cost more than reading it.
// A data file keeps its identity for life: it is written in place (a seal
// or a reopen cuts it in place), renamed once from .partial when complete,
// and never replaced; so a kept file needs only its size at each Read and,
// while partial, a look at whether it was completed. forget (create,
// delete, seal, reopen, trim) drops a job's file.
type keptFiles struct {
	mu    sync.Mutex
	files map[int64]*keptFile
	swept time.Time     // when idle files were last closed
	idle  time.Duration // keptFileIdle unless a test sets it
	// timer sweeps while files are kept, whether Reads come or not.
	timer *time.Timer
}

type keptFile struct {
	f        *os.File
	refs     int   // Reads using it
	complete bool  // the file was renamed to its final name
	size     int64 // when complete: it no longer changes
	used     time.Time
	dropped  bool // out of the map: the last release closes it
}

const (
	// maxKeptFiles bounds the files kept open; the least recently used
	// idle one makes room.
	maxKeptFiles = 64
	// keptFileIdle: a file no Read used for this long is closed (at the
	// next Read of any log, or by a timer within twice this), so that a
	// log deleted by another instance does not hold its space long.
	keptFileIdle = 30 * time.Second
)

// acquire returns job id's kept file, counting the caller as its user
// until release; nil if none is kept.
func (k *keptFiles) acquire(id int64) *keptFile {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if now.Sub(k.swept) > k.idleFor() {
		k.sweepLocked(now)
	}
	kf := k.files[id]
	if kf != nil {
		kf.refs++
		kf.used = now
	}
	return kf
}

func (k *keptFiles) idleFor() time.Duration {
	if k.idle > 0 {
		return k.idle
	}
	return keptFileIdle
}

// sweepLocked closes the files no Read used for keptFileIdle.
func (k *keptFiles) sweepLocked(now time.Time) {
	k.swept = now
	for i, c := range k.files {
		if c.refs == 0 && now.Sub(c.used) > k.idleFor() {
			k.dropLocked(i, c)
		}
	}
}

// sweepLater has the timer sweep after the idle time, if it is not set
// already: with no Read to come, a log deleted elsewhere would otherwise
// hold its space until this process ends.
func (k *keptFiles) sweepLater() {
	if k.timer == nil {
		k.timer = time.AfterFunc(k.idleFor(), k.sweepTimer)
	}
}

// sweepTimer sweeps, and again later while files are kept.
func (k *keptFiles) sweepTimer() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweepLocked(time.Now())
	if len(k.files) == 0 {
		k.timer = nil
		return
	}
	k.timer.Reset(k.idleFor())
}

// keep keeps f, just opened for a Read of job id, and returns it acquired.
func (k *keptFiles) keep(id int64, f *os.File, complete bool, size int64) *keptFile {
	k.mu.Lock()
	defer k.mu.Unlock()
	kf := &keptFile{f: f, refs: 1, complete: complete, size: size, used: time.Now()}
	if k.files == nil {
		k.files = map[int64]*keptFile{}
	}
	if old := k.files[id]; old != nil {
		k.dropLocked(id, old)
	}
	now := time.Now()
	for len(k.files) >= maxKeptFiles {
		var oldID int64
		var oldest *keptFile
		for i, c := range k.files {
			if c.refs == 0 && (oldest == nil || c.used.Before(oldest.used)) {
				oldID, oldest = i, c
			}
		}
		if oldest == nil {
			kf.dropped = true // all in use: this one is not kept
			return kf
		}
		k.dropLocked(oldID, oldest)
	}
	k.sweepLocked(now)
	k.files[id] = kf
	k.sweepLater()
	return kf
}

// release ends a use of kf.
func (k *keptFiles) release(kf *keptFile) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kf.refs--
	if kf.dropped && kf.refs == 0 {
		kf.f.Close()
	}
}

// forget drops job id's kept file, closing it once no Read uses it.
func (k *keptFiles) forget(id int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kf := k.files[id]; kf != nil {
		k.dropLocked(id, kf)
	}
}

func (k *keptFiles) dropLocked(id int64, kf *keptFile) {
	delete(k.files, id)
	kf.dropped = true
	if kf.refs == 0 {
		kf.f.Close()
	}
}

// state returns the kept file's completeness and size now: a partial
// file may have been completed (renamed to logPath) or grown.
func (k *keptFiles) state(kf *keptFile, logPath string) (complete bool, size int64, err error) {
	k.mu.Lock()
	complete, size = kf.complete, kf.size
	k.mu.Unlock()
	if complete {
		return true, size, nil
	}
	if _, err := os.Stat(logPath); err == nil {
		complete = true
	}
	fi, err := kf.f.Stat()
	if err != nil {
		return false, 0, err
	}
	if complete {
		k.mu.Lock()
		kf.complete, kf.size = true, fi.Size()
		k.mu.Unlock()
	}
	return complete, fi.Size(), nil
}

// keptData is a kept file as a Read's data file: Close releases it.
type keptData struct {
	k  *keptFiles
	kf *keptFile
}

func (d keptData) ReadAt(p []byte, off int64) (int, error) { return d.kf.f.ReadAt(p, off) }
func (d keptData) Close() error                            { d.k.release(d.kf); return nil }
