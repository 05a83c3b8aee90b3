package foreman_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// countingArchive counts how often the whole log is read: each Raw reads
// all of it (keeping one host's stream), and so does each series of Reads
// starting from the first record.
type countingArchive struct {
	*archive.Archive
	passes  atomic.Int64
	records atomic.Int64 // returned by Read
}

func (a *countingArchive) Raw(ctx context.Context, id int64, host string, s gaffer.Stream, w io.Writer) error {
	a.passes.Add(1)
	return a.Archive.Raw(ctx, id, host, s, w)
}

func (a *countingArchive) Read(ctx context.Context, id int64, after int64, limit int) ([]gaffer.Record, bool, error) {
	if after == 0 {
		a.passes.Add(1)
	}
	recs, end, err := a.Archive.Read(ctx, id, after, limit)
	a.records.Add(int64(len(recs)))
	return recs, end, err
}

// The archive check after a job reads the log once, whatever the number of
// hosts, and still finds every stream's bytes as the hosts sent them.
func TestArchiveCheckReadsLogOnce(t *testing.T) {
	a := &countingArchive{Archive: newArchive(t)}
	var hosts []gaffer.Host
	for i := range 8 {
		hosts = append(hosts, gaffer.Host{Name: fmt.Sprintf("h%d", i)})
	}
	exec := &fakeExec{results: map[string]gaffer.Result{}, output: "one\ntwo\nthree\nno newline"}
	f := newForeman(t, exec, a, hosts)
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: names(hosts)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, f, job.ID)
	// Shutdown waits for the check.
	if _, err := f.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	passes, records := a.passes.Load(), a.records.Load()
	total := int64(len(allLines(t, f, job.ID)))
	if passes != 1 {
		t.Errorf("the archive check read the whole log %d times for %d hosts × 2 streams; want once", passes, len(hosts))
	}
	if records != total {
		t.Errorf("the check read %d records of a %d-record log", records, total)
	}
	if n := f.Stats().ArchiveErrors.Load(); n != 0 {
		t.Errorf("%d archive errors on an intact log", n)
	}
}
