package archive_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Reads keep a log's data file open for the next Read, at most
// maxKeptFiles of them; Delete closes the job's, and a Read after it
// finds nothing rather than what the kept file held.
func TestKeptFilesAreBoundedAndForgotten(t *testing.T) {
	a, _ := newArchive(t)
	const jobs = 100
	for id := int64(1); id <= jobs; id++ {
		writeNumbered(t, a, id, 10, true)
	}
	fds := openFDs(t)
	for id := int64(1); id <= jobs; id++ {
		got, end, err := a.Read(ctx, id, 0, 100)
		if err != nil || len(got) != 10 || !end {
			t.Fatalf("job %d: %d records, end %v, %v", id, len(got), end, err)
		}
	}
	if n := archive.KeptFiles(a); n != 64 {
		t.Errorf("%d files kept after reading %d logs, want 64", n, jobs)
	}
	if d := openFDs(t) - fds; d > 64 {
		t.Errorf("%d more files open after reading %d logs, want at most 64", d, jobs)
	}
	if err := a.Delete(jobs); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Read(ctx, jobs, 0, 100); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("Read after Delete: %v, want ENOTFOUND", err)
	}
	if n := archive.KeptFiles(a); n != 63 {
		t.Errorf("%d files kept after Delete, want 63", n)
	}
}

// A log deleted by another instance (a shared archive) gives its disk
// space back even if no Read comes here after: the kept file is closed
// once idle, by a timer, not only at the next Read.
func TestKeptFileOfLogDeletedElsewhereIsClosed(t *testing.T) {
	a, dir := newArchive(t)
	const idle = 50 * time.Millisecond
	archive.SetKeptIdle(a, idle)
	writeNumbered(t, a, 1, 10, true)
	if _, _, err := a.Read(ctx, 1, 0, 100); err != nil {
		t.Fatal(err)
	}
	other, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(100 * idle)
	for deletedOpen(t, dir) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the deleted log's data file is still open %v after it was deleted elsewhere (idle %v), with no Read since", 100*idle, idle)
		}
		time.Sleep(idle / 5)
	}
	if n := archive.KeptFiles(a); n != 0 {
		t.Errorf("%d files kept, want 0", n)
	}
}

// deletedOpen counts this process's open files in dir that were deleted.
func deletedOpen(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") && strings.HasSuffix(target, " (deleted)") {
			n++
		}
	}
	return n
}

// A kept partial file shows what is written after it was opened, and its
// completion.
func TestKeptFileSeesGrowthAndCompletion(t *testing.T) {
	a, _ := newArchive(t)
	w, err := a.Create(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]gaffer.Record{numbered(1), numbered(2)}); err != nil {
		t.Fatal(err)
	}
	got, end, err := a.Read(ctx, 1, 0, 100)
	if err != nil || len(got) != 2 || end {
		t.Fatalf("first read: %d records, end %v, %v", len(got), end, err)
	}
	if err := w.Write([]gaffer.Record{numbered(3)}); err != nil {
		t.Fatal(err)
	}
	if got, end, err = a.Read(ctx, 1, 2, 100); err != nil || len(got) != 1 || got[0].Seq != 3 || end {
		t.Fatalf("after a write: %d records, end %v, %v", len(got), end, err)
	}
	if err := w.Complete(); err != nil {
		t.Fatal(err)
	}
	if got, end, err = a.Read(ctx, 1, 3, 100); err != nil || len(got) != 0 || !end {
		t.Fatalf("after Complete: %d records, end %v, %v; want none and the end", len(got), end, err)
	}
	if got, end, err = a.Read(ctx, 1, 0, 100); err != nil || len(got) != 3 || !end {
		t.Fatalf("all after Complete: %d records, end %v, %v", len(got), end, err)
	}
}

// A data file read before its magic is written (just created) is not kept:
// it may yet become a segmented log's marker, whose data is elsewhere.
func TestKeptFileNotBeforeItsMagic(t *testing.T) {
	a, dir := newArchive(t)
	if err := os.WriteFile(filepath.Join(dir, "7.log.partial"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if got, _, err := a.Read(ctx, 7, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("Read of an empty log: %d records, %v", len(got), err)
	}
	if n := archive.KeptFiles(a); n != 0 {
		t.Errorf("%d files kept after reading a log without its magic, want 0", n)
	}
}
