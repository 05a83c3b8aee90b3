package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
)

// slowJob prints n stdout lines and n/3 stderr lines over about a second.
func slowJob(n int) gaffer.JobRequest {
	return gaffer.JobRequest{Hosts: []string{"local"}, Command: fmt.Sprintf(
		`for i in $(seq 1 %d); do echo "line $i"; [ $((i %% 3)) = 0 ] && echo "err $i" >&2; sleep 0.004; done; true`, n)}
}

// A viewer reads half of a running job's stream, disconnects and resumes
// with Last-Event-ID: the union is exactly the whole log, no duplicate.
func TestSSEResumeIsGapFree(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		// pause between disconnect and reconnect: until the job ended, and
		// until its live buffer was dropped (reader switches to the archive)
		waitEnd bool
	}{
		{name: "while running"},
		{name: "job ends while reconnecting", waitEnd: true},
		{name: "across live to archive switch", args: []string{"--live-linger", "1ms"}, waitEnd: true},
		{name: "tiny live buffer reads archive while running", args: []string{"--live-buffer", "2048"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.args...)
			job := ts.startJob(t, slowJob(300))
			s := ts.openSSE(t, job.ID, "")
			first, end := s.readLines(t, 150)
			s.Close()
			if end || len(first) != 150 {
				t.Fatalf("first half: %d records, end=%v", len(first), end)
			}
			if tc.waitEnd {
				ts.waitJob(t, job.ID)
				time.Sleep(50 * time.Millisecond)
			}
			s = ts.openSSE(t, job.ID, strconv.FormatInt(first[len(first)-1].Seq, 10))
			rest, end := s.readLines(t, -1)
			s.Close()
			if !end {
				t.Fatal("stream closed without an end event")
			}
			all := append(first, rest...)
			final := ts.waitJob(t, job.ID)
			if final.Status != gaffer.StatusSucceeded {
				t.Fatalf("job %s", final.Status)
			}
			// 300 stdout + 100 stderr + 2 system lines.
			checkSeqs(t, all, 402)
			var out bytes.Buffer
			for _, r := range all {
				if r.Stream == gaffer.Stdout {
					fmt.Fprintf(&out, "%s\n", r.Data)
				}
			}
			var want bytes.Buffer
			for i := 1; i <= 300; i++ {
				fmt.Fprintf(&want, "line %d\n", i)
			}
			if out.String() != want.String() {
				t.Fatal("stdout lines differ from what the command printed")
			}
			// The archived log, read as NDJSON, is the same.
			again := ts.ndjson(t, job.ID, "")
			checkSeqs(t, again, 402)
		})
	}
}

// ?after= works like Last-Event-ID; a bogus or too-new Last-Event-ID gets a
// 200 stream, never an error status that would stop EventSource.
func TestSSEAfterAndBogusLastEventID(t *testing.T) {
	ts := startServer(t)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "seq 1 10"})
	ts.waitJob(t, job.ID)
	for _, tc := range []struct {
		lastEventID string
		want        int
	}{
		{"", 12}, {"5", 7}, {"abc", 12}, {"-3", 12}, {"99999", 0}, {"1e9", 12},
	} {
		s := ts.openSSE(t, job.ID, tc.lastEventID)
		recs, end := s.readLines(t, -1)
		s.Close()
		if !end || len(recs) != tc.want {
			t.Errorf("Last-Event-ID %q: %d records end=%v, want %d", tc.lastEventID, len(recs), end, tc.want)
		}
	}
	// An EventSource opened with ?after= sends Last-Event-ID when it
	// reconnects, with the same URL: the header, being newer, wins.
	resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?after=2", job.ID), nil, "Accept", "text/event-stream", "Last-Event-ID", "5")
	recs, end := (&sseStream{resp: resp, r: sse.NewReader(resp.Body)}).readLines(t, -1)
	resp.Body.Close()
	if !end || len(recs) == 0 || recs[0].Seq != 6 {
		t.Errorf("?after=2 with Last-Event-ID 5: %d records from seq %d, want them from 6", len(recs), firstSeq(recs))
	}
	resp = ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?after=11", job.ID), nil, "Accept", "text/event-stream")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "id: 12\n") || strings.Contains(string(body), "id: 11\n") || !strings.Contains(string(body), "event: end\ndata: {\"status\":\"succeeded\"}") {
		t.Fatalf("after=11: %s", body)
	}
	if resp.Header.Get("X-Accel-Buffering") != "no" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers: %v", resp.Header)
	}
}

// The raw log rebuilds each stream byte for byte: invalid UTF-8, NUL, "\r",
// a 10 MB line and no final newline.
func TestRawLogIsByteExact(t *testing.T) {
	ts := startServer(t)
	cmd := `printf 'plain\n'; printf 'nul\000byte\377\376bad utf8\r\n'; printf 'progress 10%%\rprogress 100%%\r\n';` +
		` head -c 10485760 /dev/zero | tr '\000' 'x'; printf '\n'; printf 'err\377\n' >&2; printf 'no final newline'`
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: cmd})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s: %+v", j.Status, j.Runs[0])
	}
	want := "plain\nnul\x00byte\xff\xfebad utf8\r\nprogress 10%\rprogress 100%\r\n" + strings.Repeat("x", 10<<20) + "\nno final newline"
	for _, tc := range []struct{ query, want string }{
		{"format=raw&host=local&stream=stdout", want},
		{"format=raw&stream=stderr", "err\xff\n"},
		{"format=raw", want},
	} {
		resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?%s", job.ID, tc.query), nil)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, []byte(tc.want)) {
			t.Errorf("%s: status %d, %d bytes, want %d", tc.query, resp.StatusCode, len(got), len(tc.want))
		}
	}
	// The JSON view shows U+FFFD for invalid bytes, splits the long line
	// into 64 KiB records and marks the last line unfinished.
	recs := ts.ndjson(t, job.ID, "stream=stdout")
	if recs[1].Text() != "nul\x00byte\uFFFDbad utf8\r" {
		t.Errorf("record 2 text %q", recs[1].Text())
	}
	// (A pause in the output may flush a shorter piece early: the quiet
	// flush; so count bytes, not records.)
	full, xs := 0, 0
	for _, r := range recs {
		if len(r.Data) > gaffer.MaxRecord {
			t.Fatalf("record %d holds %d bytes, more than %d", r.Seq, len(r.Data), gaffer.MaxRecord)
		}
		if len(r.Data) == gaffer.MaxRecord && !r.NL {
			full++
		}
		if len(r.Data) > 0 && r.Data[0] == 'x' {
			xs += len(r.Data)
		}
	}
	if full < 80 || xs != 10<<20 {
		t.Errorf("the 10 MB line: %d full 64 KiB records, %d bytes of it", full, xs)
	}
	if last := recs[len(recs)-1]; string(last.Data) != "no final newline" || last.NL {
		t.Errorf("last record: %d bytes %.40q nl=%v", len(last.Data), last.Data, last.NL)
	}
}

func firstSeq(recs []gaffer.Record) int64 {
	if len(recs) == 0 {
		return 0
	}
	return recs[0].Seq
}
