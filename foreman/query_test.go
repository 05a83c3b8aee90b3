package foreman_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
)

// The range reads check the job (ENOTFOUND), read the archive, take a job
// without an archive for an empty log, and call a log complete only when
// the job is over.
func TestQueryLog(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	hosts := []gaffer.Host{{Name: "a"}, {Name: "b"}}
	arch := newArchive(t)
	f := foreman.New(foreman.Config{Store: store, Live: memory.NewLiveLog(0, 0), Archive: arch,
		Executor: &fakeExec{output: strings.Repeat("some line\n", 300)}, Hosts: func() []gaffer.Host { return hosts }})

	// No such job.
	if _, _, err := f.QueryLog(ctx, 99, gaffer.LogRange{Before: gaffer.TailSeq}); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("QueryLog of no job: %v", err)
	}
	if _, err := f.SeqAt(ctx, 99, time.Now()); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("SeqAt of no job: %v", err)
	}
	if _, err := f.LogSummary(ctx, 99); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("LogSummary of no job: %v", err)
	}
	if _, err := f.SearchLog(ctx, 99, gaffer.SearchQuery{Pattern: "x"}, nil); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("SearchLog of no job: %v", err)
	}

	// A queued job has no archive yet: an empty log, not complete.
	queued := &gaffer.Job{Command: "x", Status: gaffer.StatusQueued, Runs: []*gaffer.Run{{Host: "a", Status: gaffer.StatusQueued}}}
	if err := store.CreateJob(ctx, queued); err != nil {
		t.Fatal(err)
	}
	if recs, end, err := f.QueryLog(ctx, queued.ID, gaffer.LogRange{Before: gaffer.TailSeq, Limit: 10}); err != nil || len(recs) != 0 || end {
		t.Errorf("queued tail: %d records end=%v %v", len(recs), end, err)
	}
	if recs, end, err := f.QueryLog(ctx, queued.ID, gaffer.LogRange{Limit: 10}); err != nil || len(recs) != 0 || end {
		t.Errorf("queued forward read: %d records end=%v %v", len(recs), end, err)
	}
	if seq, err := f.SeqAt(ctx, queued.ID, time.Now()); err != nil || seq != 1 {
		t.Errorf("queued SeqAt: %d %v", seq, err)
	}
	if s, err := f.LogSummary(ctx, queued.ID); err != nil || s.LastSeq != 0 || s.Complete || s.Streams == nil {
		t.Errorf("queued summary: %+v %v", s, err)
	}
	if res, err := f.SearchLog(ctx, queued.ID, gaffer.SearchQuery{Pattern: "x", After: 4}, nil); err != nil || res != (gaffer.SearchResult{Done: true, ScannedTo: 4}) {
		t.Errorf("queued search: %+v %v", res, err)
	}
	if _, err := f.SearchLog(ctx, queued.ID, gaffer.SearchQuery{Pattern: "a(", Regex: true}, nil); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Errorf("bad pattern: %v", err)
	}

	// A finished job: its log, read back, found, summed up.
	job, err := f.Start(ctx, gaffer.JobRequest{Command: "x", Hosts: []string{"a", "b"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, f, job.ID)
	all := allLines(t, f, job.ID)
	tail, _, err := f.QueryLog(ctx, job.ID, gaffer.LogRange{Before: gaffer.TailSeq, Limit: 5, Filter: gaffer.LogFilter{Host: "b", Stream: gaffer.Stderr}})
	if err != nil || len(tail) != 1 || tail[0].Host != "b" || string(tail[0].Data) != "err of b" {
		t.Errorf("tail of b's stderr: %+v %v", tail, err)
	}
	if s, err := f.LogSummary(ctx, job.ID); err != nil || !s.Complete || s.LastSeq != all[len(all)-1].Seq {
		t.Errorf("finished summary: %+v %v, want complete with last seq %d", s, err, all[len(all)-1].Seq)
	}
	n := 0
	res, err := f.SearchLog(ctx, job.ID, gaffer.SearchQuery{Pattern: "SOME LINE", Filter: gaffer.LogFilter{Host: "a"}}, func(r *gaffer.Record) error {
		n++
		return nil
	})
	if err != nil || !res.Done || res.Matches != 300 || n != 300 {
		t.Errorf("search: %+v %d %v", res, n, err)
	}

	// A job still running (its owner died before it could say so): its
	// log is not complete, whatever the archive says.
	running := &gaffer.Job{Command: "x", Status: gaffer.StatusRunning, Runs: []*gaffer.Run{{Host: "a", Status: gaffer.StatusRunning}}}
	if err := store.CreateJob(ctx, running); err != nil {
		t.Fatal(err)
	}
	aw, err := arch.Create(ctx, running.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := aw.Write([]gaffer.Record{{Seq: 1, TS: time.Now(), Host: "a", Stream: gaffer.Stdout, Data: []byte("x"), NL: true}}); err != nil {
		t.Fatal(err)
	}
	if err := aw.Complete(); err != nil {
		t.Fatal(err)
	}
	if s, err := arch.Summary(ctx, running.ID); err != nil || !s.Complete {
		t.Fatalf("archive summary: %+v %v", s, err)
	}
	if s, err := f.LogSummary(ctx, running.ID); err != nil || s.Complete || s.LastSeq != 1 {
		t.Errorf("running summary: %+v %v", s, err)
	}
}
