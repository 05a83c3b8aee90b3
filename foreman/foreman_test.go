package foreman_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
	"github.com/gaffer-dev/gaffer/sqlite"
)

// fakeExec answers each host as its table says, counting how many run at once.
type fakeExec struct {
	results map[string]gaffer.Result
	output  string
	running atomic.Int32
	max     atomic.Int32
}

func (e *fakeExec) Exec(ctx context.Context, h *gaffer.Host, spec gaffer.ExecSpec, stdout, stderr io.Writer) gaffer.Result {
	n := e.running.Add(1)
	defer e.running.Add(-1)
	for m := e.max.Load(); n > m && !e.max.CompareAndSwap(m, n); m = e.max.Load() {
	}
	io.WriteString(stdout, e.output)
	io.WriteString(stderr, "err of "+h.Name+"\n")
	time.Sleep(20 * time.Millisecond)
	return e.results[h.Name]
}

// corruptArchive loses the last byte of every record it reads, and of
// every stream it writes out raw.
type corruptArchive struct{ *archive.Archive }

func (a corruptArchive) Raw(ctx context.Context, id int64, host string, s gaffer.Stream, w io.Writer) error {
	var buf bytes.Buffer
	if err := a.Archive.Raw(ctx, id, host, s, &buf); err != nil {
		return err
	}
	if n := buf.Len(); n > 0 {
		buf.Truncate(n - 1)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func (a corruptArchive) Read(ctx context.Context, id int64, after int64, limit int) ([]gaffer.Record, bool, error) {
	recs, end, err := a.Archive.Read(ctx, id, after, limit)
	for i := range recs {
		if n := len(recs[i].Data); n > 0 {
			recs[i].Data = recs[i].Data[:n-1]
		}
	}
	return recs, end, err
}

func newForeman(t *testing.T, exec gaffer.Executor, arch gaffer.Archive, hosts []gaffer.Host) *foreman.Foreman {
	t.Helper()
	return newForemanConfig(t, exec, arch, hosts, nil)
}

// newForemanWith runs on one host "h"; edit changes the config.
func newForemanWith(t *testing.T, exec gaffer.Executor, edit func(*foreman.Config)) *foreman.Foreman {
	t.Helper()
	return newForemanConfig(t, exec, nil, []gaffer.Host{{Name: "h"}}, edit)
}

func newForemanConfig(t *testing.T, exec gaffer.Executor, arch gaffer.Archive, hosts []gaffer.Host, edit func(*foreman.Config)) *foreman.Foreman {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if arch == nil {
		a, err := archive.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		arch = a
	}
	cfg := foreman.Config{Store: db, Live: memory.NewLiveLog(0, 0), Archive: arch, Executor: exec,
		Hosts: func() []gaffer.Host { return hosts }}
	if edit != nil {
		edit(&cfg)
	}
	return foreman.New(cfg)
}

func waitDone(t *testing.T, f *foreman.Foreman, id int64) *gaffer.Job {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if j, err := f.Job(context.Background(), id); err == nil && j.Status.Done() {
			return j
		}
	}
	t.Fatalf("job %d did not end", id)
	return nil
}

// allLines reads the job's whole log, and checks that reading it as lines
// (ReadLogLines, as a viewer of lines events does) gives the same records.
func allLines(t *testing.T, f *foreman.Foreman, id int64) []gaffer.Record {
	t.Helper()
	var all []gaffer.Record
	for after := int64(0); ; {
		recs, end, err := f.ReadLog(context.Background(), id, after, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
		if len(recs) > 0 {
			after = recs[len(recs)-1].Seq
		}
		if end {
			break
		}
	}
	var lines []gaffer.Record
	var l gaffer.Lines
	for after := int64(0); ; {
		end, err := f.ReadLogLines(context.Background(), id, after, 0, &l)
		if err != nil {
			t.Fatal(err)
		}
		n := len(lines)
		lines = l.Records(lines)
		for i := n; i < len(lines); i++ {
			lines[i].Data = append([]byte(nil), lines[i].Data...) // l is read into again
		}
		if l.Len() > 0 {
			after = l.Last()
		}
		if end {
			break
		}
	}
	if len(lines) != len(all) {
		t.Fatalf("ReadLogLines read %d records, ReadLog %d", len(lines), len(all))
	}
	for i := range all {
		if got, want := lines[i].AppendJSON(nil), all[i].AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("ReadLogLines read %s, ReadLog %s", got, want)
		}
	}
	return all
}

// Run results map to run statuses, the job's status follows from them, and
// no more than `concurrency` runs go at once.
func TestRunStatusesAndConcurrency(t *testing.T) {
	var hosts []gaffer.Host
	results := map[string]gaffer.Result{}
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("h%d", i)
		hosts = append(hosts, gaffer.Host{Name: name, Address: "10.0.0.1"})
		results[name] = gaffer.Result{ExitCode: 0}
	}
	results["h1"] = gaffer.Result{ExitCode: 3}
	results["h2"] = gaffer.Result{ExitCode: -1, Signal: "KILL"}
	results["h3"] = gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, "connect to h3 (10.0.0.1:22): connection refused")}
	exec := &fakeExec{results: results, output: "hello\n"}
	f := newForeman(t, exec, nil, hosts)
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Selector: "", Hosts: names(hosts), Concurrency: 3}, "test")
	if err != nil {
		t.Fatal(err)
	}
	j := waitDone(t, f, job.ID)
	if j.Status != gaffer.StatusFailed {
		t.Fatalf("job %s", j.Status)
	}
	for _, r := range j.Runs {
		want := map[string]string{"h1": "failed 3 ", "h2": "failed <nil> killed by signal KILL", "h3": "failed <nil> connect to h3 (10.0.0.1:22): connection refused"}[r.Host]
		if want == "" {
			want = "succeeded 0 "
		}
		code := "<nil>"
		if r.ExitCode != nil {
			code = fmt.Sprint(*r.ExitCode)
		}
		if got := fmt.Sprintf("%s %s %s", r.Status, code, r.Error); got != want {
			t.Errorf("%s: %q, want %q", r.Host, got, want)
		}
	}
	if m := exec.max.Load(); m > 3 {
		t.Errorf("%d runs at once, limit 3", m)
	}
	recs := allLines(t, f, job.ID)
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
	}
	if len(recs) != 12*4 { // running-on, hello, err, exit line
		t.Fatalf("%d records", len(recs))
	}
}

// A difference between what the host sent and what the archive holds is
// caught by the checksum, logged and counted: on one host (the check reads
// each stream raw) and on three (one pass reading records).
func TestArchiveChecksum(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d hosts", n), func(t *testing.T) {
			a, err := archive.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var hosts []gaffer.Host
			for i := range n {
				hosts = append(hosts, gaffer.Host{Name: fmt.Sprintf("h%d", i)})
			}
			exec := &fakeExec{results: map[string]gaffer.Result{}, output: "payload\n"}
			f := newForeman(t, exec, corruptArchive{a}, hosts)
			job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: names(hosts)}, "test")
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, f, job.ID)
			// Shutdown waits for the check, which runs after the job.
			if _, err := f.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got, want := f.Stats().ArchiveErrors.Load(), int64(2*n); got != want {
				t.Fatalf("%d archive errors; want %d (stdout and stderr of each host)", got, want)
			}
		})
	}
}

// An intact archive passes the check, whichever way it reads the log.
func TestArchiveCheckIntact(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("%d hosts", n), func(t *testing.T) {
			var hosts []gaffer.Host
			for i := range n {
				hosts = append(hosts, gaffer.Host{Name: fmt.Sprintf("h%d", i)})
			}
			exec := &fakeExec{results: map[string]gaffer.Result{}, output: "one\n\ntwo\r\nno newline"}
			f := newForeman(t, exec, nil, hosts)
			job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: names(hosts)}, "test")
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, f, job.ID)
			if _, err := f.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := f.Stats().ArchiveErrors.Load(); got != 0 {
				t.Fatalf("%d archive errors on an intact log", got)
			}
		})
	}
}

// Cancel and shutdown give canceled and interrupted, and Shutdown reports
// the jobs it interrupted.
func TestCancelAndShutdown(t *testing.T) {
	block := &blockingExec{}
	f := newForeman(t, block, nil, []gaffer.Host{{Name: "h"}})
	j1, _ := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t")
	if _, err := f.Cancel(context.Background(), j1.ID); err != nil {
		t.Fatal(err)
	}
	if j := waitDone(t, f, j1.ID); j.Status != gaffer.StatusCanceled {
		t.Fatalf("canceled job: %s", j.Status)
	}
	j2, _ := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t")
	ids, err := f.Shutdown(context.Background())
	if err != nil || len(ids) != 1 || ids[0] != j2.ID {
		t.Fatalf("shutdown: %v %v", ids, err)
	}
	if j, _ := f.Job(context.Background(), j2.ID); j.Status != gaffer.StatusInterrupted {
		t.Fatalf("after shutdown: %s", j.Status)
	}
	if _, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t"); gaffer.ErrorCode(err) != gaffer.EUNAVAILABLE {
		t.Fatalf("start while shutting down: %v", err)
	}
}

type blockingExec struct{}

func (b *blockingExec) Exec(ctx context.Context, h *gaffer.Host, spec gaffer.ExecSpec, stdout, stderr io.Writer) gaffer.Result {
	<-ctx.Done()
	return gaffer.Result{ExitCode: -1, Err: ctx.Err()}
}

func names(hs []gaffer.Host) []string {
	var n []string
	for _, h := range hs {
		n = append(n, h.Name)
	}
	return n
}

// failingBeats is a store whose heartbeats fail, as when the database is
// out of reach.
type failingBeats struct{ gaffer.JobStore }

func (failingBeats) Heartbeat(ctx context.Context, owner string, now time.Time) ([]int64, error) {
	return nil, fmt.Errorf("connection refused")
}

// An instance that cannot renew its lease stops its jobs (others may have
// declared it dead) instead of running them twice over.
func TestLostLeaseInterruptsJobs(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, _ := archive.Open(t.TempDir())
	f := foreman.New(foreman.Config{Store: failingBeats{db}, Live: memory.NewLiveLog(0, 0), Archive: a, Executor: &blockingExec{},
		Hosts: func() []gaffer.Host { return []gaffer.Host{{Name: "h"}} }, Shared: true, LeaseTTL: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Watch(ctx)
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	j := waitDone(t, f, job.ID)
	if j.Status != gaffer.StatusInterrupted || !strings.Contains(j.Runs[0].Error, "lost contact with the database") {
		t.Fatalf("job %s, run %+v", j.Status, j.Runs[0])
	}
}
