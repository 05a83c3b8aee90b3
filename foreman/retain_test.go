package foreman_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// A job that keeps a window of its log (retain) and writes several times
// as much: the archive keeps the newest part, seqs go on counting, reads
// from the start begin at the oldest record kept, and the summary says
// where that is and counts what is kept.
func TestRetainKeepsNewest(t *testing.T) {
	var out strings.Builder
	for i := range 200_000 { // about 6 MiB
		fmt.Fprintf(&out, "line %07d\n", i)
	}
	exec := &fakeExec{results: map[string]gaffer.Result{}, output: out.String()}
	f := newForeman(t, exec, nil, []gaffer.Host{{Name: "h"}})
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"}, Retain: "1MiB"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, f, job.ID)
	sum, err := f.LogSummary(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The live buffer (8 MiB here, not yet deleted) holds older records:
	// reads skip them, to the archive's oldest.
	all := allLines(t, f, job.ID)
	if len(all) == 0 || all[0].Seq <= 1 {
		t.Fatalf("the log starts at seq %d; want its oldest part dropped", all[0].Seq)
	}
	var kept int64
	for i := range all {
		if i > 0 && all[i].Seq != all[i-1].Seq+1 {
			t.Fatalf("seq %d after %d", all[i].Seq, all[i-1].Seq)
		}
		// The window counts the archive's bytes: the output is written
		// at once, so its records share batch frames (up to 1024 a frame,
		// whose header is then a few bytes a record at most), where a
		// record costs its data and a byte of length.
		kept += int64(len(all[i].Data) + 1)
	}
	if kept < 1<<20-32<<10 || kept > 1<<20+256<<10 {
		t.Fatalf("kept %d bytes of records for a window of 1MiB", kept)
	}
	if last := all[len(all)-1]; last.Stream != gaffer.System {
		t.Fatalf("the log ends with %q, want the job's end", last.Data)
	}
	var sawLast bool
	for _, r := range all {
		sawLast = sawLast || string(r.Data) == "line 0199999"
	}
	if !sawLast {
		t.Fatal("the newest output is not kept")
	}

	var recs int64
	for _, s := range sum.Streams {
		recs += s.Records
	}
	if sum.FirstSeq != all[0].Seq || sum.LastSeq != all[len(all)-1].Seq || recs != int64(len(all)) || !sum.Complete {
		t.Fatalf("summary first %d last %d, %d records, complete %v; want %d %d %d true",
			sum.FirstSeq, sum.LastSeq, recs, sum.Complete, all[0].Seq, all[len(all)-1].Seq, len(all))
	}
	if n := f.Stats().ArchiveErrors.Load(); n != 0 {
		t.Fatalf("%d archive errors", n)
	}
}
