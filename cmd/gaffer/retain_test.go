package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// A job with "retain": "1MiB" writing about 4 MiB, end to end: the log
// keeps its newest part, seqs go on counting from where the window
// starts, and every way of reading it (NDJSON and SSE from seq 0, tail,
// before, since, search, raw, summary, `gaffer logs`) starts at what is
// left, without a gap.
func TestRetainEndToEnd(t *testing.T) {
	ts := startServer(t)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Retain: "1MiB", Command: `i=0; while [ $i -lt 60000 ]; do
		i=$((i+1)); echo "line $i ................................................"
		[ $((i % 100)) = 0 ] && echo "warn $i" >&2
	done; echo last line`})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded || j.Retain != "1MiB" {
		t.Fatalf("job %s, retain %q", j.Status, j.Retain)
	}
	all := ts.ndjson(t, job.ID, "")
	if len(all) < 1000 || all[0].Seq < 20_000 {
		t.Fatalf("the log holds %d records from seq %d; want its newest part", len(all), all[0].Seq)
	}
	var bytes int
	for i, r := range all {
		if i > 0 && r.Seq != all[i-1].Seq+1 {
			t.Fatalf("seq %d after %d", r.Seq, all[i-1].Seq)
		}
		bytes += len(r.Data)
	}
	// stdout and stderr are read apart: any number of the last "warn"
	// lines may come after "last line". stdout's last line is "last line",
	// and the exit line ends the log.
	lastOut := -1
	for i, r := range all {
		if r.Stream == gaffer.Stdout {
			lastOut = i
		}
	}
	if n := len(all); lastOut < 0 || string(all[lastOut].Data) != "last line" || all[n-1].Stream != gaffer.System {
		t.Fatalf("the log ends with %q, %q, %q", all[n-3].Data, all[n-2].Data, all[n-1].Data)
	}
	t.Logf("kept %d records (%d bytes of text) from seq %d to %d", len(all), bytes, all[0].Seq, all[len(all)-1].Seq)

	// The summary says where the log starts and counts what is kept.
	checkSummary(t, ts, job.ID, all)
	_, body := ts.get(t, fmt.Sprintf("/api/jobs/%d/log/summary", job.ID))
	var sum gaffer.LogSummary
	if err := json.Unmarshal(body, &sum); err != nil || sum.FirstSeq != all[0].Seq {
		t.Fatalf("summary first_seq: %s, want %d", body, all[0].Seq)
	}

	first := all[0].Seq
	checkRanges(t, ts, job.ID, all, []rangeQuery{
		{query: "tail=10", tail: 10},
		{query: "tail=1000000", tail: 1000000},
		{query: "tail=5&stream=stderr", tail: 5, stream: gaffer.Stderr},
		{query: "tail=7&host=local", tail: 7, host: "local"},
		{query: fmt.Sprintf("before=%d&limit=100", first+50), before: first + 50, limit: 100},
		{query: fmt.Sprintf("before=%d&limit=100", first), before: first, limit: 100},
		{query: "before=2&limit=10", before: 2, limit: 10},
		{query: "after=1&limit=20", after: 1, limit: 20},
		{query: "since=2000-01-01T00:00:00Z&limit=30", since: all[0].TS.AddDate(-100, 0, 0), limit: 30},
		{query: "after=0&host=local&stream=stderr", host: "local", stream: gaffer.Stderr},
	})
	// SSE from the start, and resuming from an id long gone.
	for _, id := range []string{"", "1", fmt.Sprint(first - 1)} {
		if got := ts.sseRange(t, job.ID, "", id); !recordsEqual(got, all) {
			t.Errorf("SSE (Last-Event-ID %q): %d records %s, want %d %s", id, len(got), seqRange(got), len(all), seqRange(all))
		}
	}
	checkSearch(t, ts, job.ID, all, "q=warn", gaffer.SearchQuery{Pattern: "warn"}, 50)
	checkSearch(t, ts, job.ID, all, "q=line+1", gaffer.SearchQuery{Pattern: "line 1"}, 1000)

	// The CLI prints what is kept, from its oldest line.
	out, errOut, code := gafferCLI(t, ts, "logs", fmt.Sprint(job.ID), "--stream", "stdout")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var stdout []gaffer.Record
	for _, r := range all {
		if r.Stream == gaffer.Stdout {
			stdout = append(stdout, r)
		}
	}
	if code != 0 || len(lines) != len(stdout) || lines[0] != "local | "+string(stdout[0].Data) {
		t.Fatalf("gaffer logs: exit %d, %d lines from %q, want %d from %q; stderr %s", code, len(lines), lines[0], len(stdout), stdout[0].Data, errOut)
	}
	out, _, code = gafferCLI(t, ts, "logs", fmt.Sprint(job.ID), "--tail", "2", "--stream", "stdout")
	if want := "local | " + string(stdout[len(stdout)-2].Data) + "\nlocal | last line\n"; code != 0 || out != want {
		t.Fatalf("gaffer logs --tail 2: %q, want %q", out, want)
	}
}
