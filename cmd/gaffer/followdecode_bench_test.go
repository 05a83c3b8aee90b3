package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// BenchmarkFollowDecode: the CLI following a finished log of `seq`'s short
// lines (200 000), as line events and as lines events (batch=1, runs of
// 4 096 as a 32 KiB read brings them), served from memory; the handler
// does nothing, so this is the client's reading and decoding alone.
func BenchmarkFollowDecode(b *testing.B) {
	const n = 200_000
	recs := make([]gaffer.Record, n)
	t0 := time.Date(2026, 12, 3, 2, 0, 0, 123456789, time.UTC)
	for i := range recs {
		recs[i] = gaffer.Record{Seq: int64(i + 1), TS: t0.Add(time.Duration(i/4096) * time.Millisecond), Host: "web-1",
			Stream: gaffer.Stdout, Data: strconv.AppendInt(nil, int64(i+1), 10), NL: true}
	}
	const end = "event: end\ndata: {\"status\":\"succeeded\"}\n\n"
	var line, lines []byte
	var enc gaffer.JSONEncoder
	for i := range recs {
		line = append(line, "id: "...)
		line = strconv.AppendInt(line, recs[i].Seq, 10)
		line = append(line, "\nevent: line\ndata: "...)
		line = append(enc.Append(line, &recs[i]), "\n\n"...)
	}
	for rest := recs; len(rest) > 0; {
		var k int
		lines = append(lines, "event: lines\ndata: "...)
		lines, k = enc.AppendLines(lines, rest)
		lines = append(lines, "\nid: "...)
		lines = strconv.AppendInt(lines, rest[k-1].Seq, 10)
		lines = append(lines, "\n\n"...)
		rest = rest[k:]
	}
	for _, form := range []struct {
		name   string
		stream []byte
	}{{"line", append(line, end...)}, {"lines", append(lines, end...)}} {
		b.Run(form.name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write(form.stream)
			}))
			defer srv.Close()
			c := &client{server: srv.URL, token: "t", http: srv.Client()}
			b.SetBytes(int64(len(form.stream)))
			for b.Loop() {
				got := 0
				_, err := c.follow(context.Background(), 1, 0, nil, followHandler{logHandler: logHandler{
					record: func(r *logRecord, line []byte) error { got++; return nil },
				}})
				if err != nil || got != n {
					b.Fatalf("%d records, %v", got, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}
