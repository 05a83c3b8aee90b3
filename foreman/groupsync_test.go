package foreman_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// syncCountingArchive counts its writers' syncs. The first sync waits
// until every run has written its "exit status" line (or a while, for a
// foreman that does not let them), so that the runs ending together meet
// one sync under way.
type syncCountingArchive struct {
	*archive.Archive
	runs    int
	ended   atomic.Int32
	syncs   atomic.Int32
	release chan struct{}
	once    sync.Once
}

type syncCountingWriter struct {
	gaffer.ArchiveWriter
	a *syncCountingArchive
}

func (a *syncCountingArchive) Create(ctx context.Context, jobID int64) (gaffer.ArchiveWriter, error) {
	w, err := a.Archive.Create(ctx, jobID)
	if err != nil {
		return nil, err
	}
	return &syncCountingWriter{w, a}, nil
}

func (w *syncCountingWriter) Write(recs []gaffer.Record) error {
	for _, r := range recs {
		if r.Stream == gaffer.System && bytes.HasPrefix(r.Data, []byte("exit status")) {
			if int(w.a.ended.Add(1)) == w.a.runs {
				w.a.once.Do(func() { close(w.a.release) })
			}
		}
	}
	return w.ArchiveWriter.Write(recs)
}

func (w *syncCountingWriter) Sync() error {
	if w.a.syncs.Add(1) == 1 {
		select {
		case <-w.a.release:
		case <-time.After(2 * time.Second):
		}
	}
	return w.ArchiveWriter.Sync()
}

// Runs that end together share archive syncs instead of making one each,
// in turn; every run's output is still in the archive.
func TestRunsShareArchiveSyncs(t *testing.T) {
	const n = 50
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	arch := &syncCountingArchive{Archive: a, runs: n, release: make(chan struct{})}
	var hosts []gaffer.Host
	results := map[string]gaffer.Result{}
	for i := range n {
		name := fmt.Sprintf("h%d", i)
		hosts = append(hosts, gaffer.Host{Name: name, Address: "10.0.0.1"})
		results[name] = gaffer.Result{}
	}
	f := newForeman(t, &fakeExec{results: results, output: "hello\n"}, arch, hosts)
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: names(hosts), Concurrency: n}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if j := waitDone(t, f, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s", j.Status)
	}
	if got := arch.syncs.Load(); got >= n/2 {
		t.Errorf("%d runs ending together made %d archive syncs, want them shared (a few)", n, got)
	}
	hello := 0
	for _, r := range allLines(t, f, job.ID) {
		if r.Stream == gaffer.Stdout && string(r.Data) == "hello" {
			hello++
		}
	}
	if hello != n {
		t.Errorf("%d hello lines in the log, want %d", hello, n)
	}
}
