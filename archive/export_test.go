package archive

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// WriteIndexV1 replaces a complete log's stream index by one as the
// first format wrote it: streams named by host and stream only, even
// where records have files (as a log written before the index knew files
// has).
func WriteIndexV1(a *Archive, jobID int64) error {
	f, err := os.Open(a.logPath(jobID))
	if err != nil {
		return err
	}
	defer f.Close()
	sdx, sb := []byte(sdxMagicV1), newSdxBuilder()
	r := newFrameReader(f, headerSize)
	for {
		fr, ok, err := r.next()
		if err != nil {
			return err
		} else if !ok {
			break
		}
		sdx = sb.add(sdx, fr.seq, fr.ts, sname{host: string(fr.host), stream: string(fr.stream)}, len(fr.data), fr.off)
	}
	a.forget(jobID)
	return os.WriteFile(a.sdxPath(jobID), sb.mark(sdx, r.off, true), 0o600)
}

// PlantReadHint makes a's next Read of seq in job start at off, as if a
// Read had left off there.
func PlantReadHint(a *Archive, jobID, seq, off int64) {
	a.hints.mu.Lock()
	epoch := a.hints.epoch
	a.hints.mu.Unlock()
	a.hints.put(jobID, 0, seq, off, nil, epoch)
}

// SetKeptIdle makes a close its kept files after d without a Read.
func SetKeptIdle(a *Archive, d time.Duration) {
	a.kept.mu.Lock()
	a.kept.idle = d
	a.kept.mu.Unlock()
}

// KeptFiles is the number of data files a kept open between Reads.
func KeptFiles(a *Archive) int {
	a.kept.mu.Lock()
	defer a.kept.mu.Unlock()
	return len(a.kept.files)
}

// RecordSyncs records the base names of the data files synced until the
// test ends.
func RecordSyncs(t interface{ Cleanup(func()) }) func() []string {
	var mu sync.Mutex
	var names []string
	t.Cleanup(func() { syncFile = (*os.File).Sync })
	syncFile = func(f *os.File) error {
		mu.Lock()
		names = append(names, filepath.Base(f.Name()))
		mu.Unlock()
		return f.Sync()
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(names)
	}
}

// FrameBodies returns the bodies of the frames in job's plain data file,
// in order, up to the first that is not whole and valid.
func FrameBodies(a *Archive, jobID int64) ([][]byte, error) {
	b, err := os.ReadFile(a.logPath(jobID))
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	for off := headerSize; off < len(b); {
		body, n := frameAt(b[off:])
		if n <= 0 {
			break
		}
		bodies = append(bodies, body)
		off += n
	}
	return bodies, nil
}
