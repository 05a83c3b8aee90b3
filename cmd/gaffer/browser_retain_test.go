package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// The job page of a log that dropped its oldest part ("retain"): its rows
// are what is kept, from the summary's first_seq; a jump to a seq that is
// gone (a permalink, the top of the log) shows the first kept record, with
// no empty rows above it.
func TestBrowserRetainedLog(t *testing.T) {
	ts := startServer(t, "--live-linger", "1ms")
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Retain: "1MiB", Command: `i=0; while [ $i -lt 40000 ]; do
		i=$((i+1)); echo "line $i ................................................"
	done`})
	ts.waitJob(t, job.ID)
	_, body := ts.get(t, fmt.Sprintf("/api/jobs/%d/log/summary", job.ID))
	var sum gaffer.LogSummary
	if err := json.Unmarshal(body, &sum); err != nil || sum.FirstSeq < 2 {
		t.Fatalf("summary %s: want first_seq", body)
	}

	b := newBrowser(t)
	b.login(ts)
	v := b.newTab(t)
	v.openJob(ts, job.ID)
	v.waitEnded()
	if got, want := evalJS[int64](v, `gafferViewer.state().total`), sum.LastSeq-sum.FirstSeq+1; got != want {
		t.Fatalf("the page has %d rows; want the %d records kept", got, want)
	}
	evalJS[bool](v, `gafferViewer.jumpTo(1), true`)
	v.waitJS("the jump to a dropped seq", `gafferViewer.state().settled`)
	lines := v.logLines()
	if st := evalJS[map[string]any](v, `gafferViewer.state()`); st["top"].(float64) != 0 || len(lines) == 0 || lines[0].Seq != sum.FirstSeq {
		t.Fatalf("after a jump to seq 1: top %v, first row %v; want row 0, seq %d", st["top"], lines[0], sum.FirstSeq)
	}
	v.checkClean("retained log")
}
