package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// The CLI follows a log with batch=1 and reads lines events as it reads
// line events: every record once, in order (a record it has, as after a
// reconnect, not again), its text unescaped, and for -o json each
// record's own JSON, as a line event or an NDJSON line holds it.
func TestFollowReadsLinesEvents(t *testing.T) {
	var gotQuery url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.Query()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 2000\n\n",
			"event: lines\ndata: {\"seq\":1,\"ts\":\"2026-12-03T02:00:00.5Z\",\"host\":\"web-1\",\"stream\":\"stdout\",\"lines\":[\"a\",\"b \\\"q\\\" \\u00e9\\t\",\"\"],\"nl\":true}\nid: 3\n\n",
			"id: 4\nevent: line\ndata: {\"seq\":4,\"ts\":\"2026-12-03T02:00:01Z\",\"host\":\"web-2\",\"stream\":\"stderr\",\"text\":\"d\",\"nl\":true}\n\n",
			"event: lines\ndata: {\"seq\":3,\"ts\":\"2026-12-03T02:00:02Z\",\"host\":\"web-1\",\"stream\":\"stdout\",\"file\":\"/var/log/x\",\"lines\":[\"again\",\"again\",\"e\",\"f\"],\"nl\":false,\"alert\":true}\nid: 6\n\n",
			"event: lines\ndata: {\"seq\":7,\"lines\":\"not a list\"}\nid: 7\n\n",
			"event: end\ndata: {\"status\":\"succeeded\"}\n\n")
	}))
	defer srv.Close()
	c := &client{server: srv.URL, token: "t", http: srv.Client()}
	var texts, jsons []string
	var seqs []int64
	status, err := c.follow(context.Background(), 9, 0, url.Values{"host": {"web-1"}}, followHandler{logHandler: logHandler{
		record: func(r *logRecord, line []byte) error {
			seqs = append(seqs, r.Seq)
			texts = append(texts, fmt.Sprintf("%s %s %s %s %q nl=%v alert=%v", r.TS, r.Host, r.Stream, r.File, r.Text, r.NL, r.Alert))
			jsons = append(jsons, string(line))
			return nil
		},
	}, json: true})
	if err != nil || status != gaffer.StatusSucceeded {
		t.Fatalf("follow: %q, %v", status, err)
	}
	if gotQuery.Get("batch") != "1" || gotQuery.Get("host") != "web-1" {
		t.Errorf("query %v, want batch=1 and the filter", gotQuery)
	}
	want := []string{
		`2026-12-03T02:00:00.5Z web-1 stdout  "a" nl=true alert=false`,
		`2026-12-03T02:00:00.5Z web-1 stdout  "b \"q\" é\t" nl=true alert=false`,
		`2026-12-03T02:00:00.5Z web-1 stdout  "" nl=true alert=false`,
		`2026-12-03T02:00:01Z web-2 stderr  "d" nl=true alert=false`,
		`2026-12-03T02:00:02Z web-1 stdout /var/log/x "e" nl=true alert=true`,
		`2026-12-03T02:00:02Z web-1 stdout /var/log/x "f" nl=false alert=true`,
	}
	if strings.Join(texts, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
	if fmt.Sprint(seqs) != "[1 2 3 4 5 6]" {
		t.Errorf("seqs %v", seqs)
	}
	// Each record's JSON decodes to that record.
	for i, js := range jsons {
		var r gaffer.Record
		if err := json.Unmarshal([]byte(js), &r); err != nil || r.Seq != seqs[i] {
			t.Errorf("JSON of record %d: %s (%v)", seqs[i], js, err)
		}
	}
	if jsons[1] != `{"seq":2,"ts":"2026-12-03T02:00:00.5Z","host":"web-1","stream":"stdout","text":"b \"q\" é\t","nl":true}` {
		t.Errorf("JSON of record 2: %s", jsons[1])
	}
}
