package archive_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// linesLog is a log of runs like a job's: chunks of one host and stream
// (batch frames), single records between them, alerts, a line without a
// newline, a followed file, and a run long enough to cross frames.
func linesLog() []gaffer.Record {
	var recs []gaffer.Record
	ts := time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)
	add := func(n int, host string, stream gaffer.Stream, file string, text func(i int) string) {
		ts = ts.Add(time.Millisecond)
		for i := range n {
			seq := int64(len(recs) + 1)
			recs = append(recs, gaffer.Record{Seq: seq, TS: ts, Host: host, Stream: stream, File: file,
				Data: []byte(text(i)), NL: seq%97 != 0, Alert: seq%13 == 0})
		}
	}
	short := func(i int) string { return fmt.Sprint(i) }
	for k := range 40 {
		add(1+k*k, fmt.Sprintf("web-%d", k%3), gaffer.Stdout, "", short)
		add(1, "db", gaffer.Stderr, "", func(int) string { return "error \"x\"\xff" })
		add(k%4, "web-1", gaffer.Stdout, "/var/log/app.log", short)
	}
	add(5000, "web-2", gaffer.Stdout, "", short)
	add(30, "web-2", gaffer.Stdout, "", func(i int) string { return string(make([]byte, 3000+i)) })
	return recs
}

// ReadLines reads what Read does, as lines: every record after `after`,
// in order, up to limit or a full Lines, and the same end.
func TestReadLines(t *testing.T) {
	recs := linesLog()
	n := int64(len(recs))
	for _, complete := range []bool{true, false} {
		t.Run(fmt.Sprintf("complete=%v", complete), func(t *testing.T) {
			a, _ := newArchive(t)
			writeLog(t, a, 1, recs, complete)
			var l gaffer.Lines
			check := func(after int64, limit int) int64 {
				t.Helper()
				end, err := a.ReadLines(ctx, 1, after, limit, &l)
				if err != nil {
					t.Fatalf("ReadLines(after=%d, limit=%d): %v", after, limit, err)
				}
				got := l.Records(nil)
				if after >= n {
					if len(got) != 0 || end != complete {
						t.Fatalf("ReadLines(after=%d) past the end = %d records, end %v", after, len(got), end)
					}
					return after
				}
				if len(got) == 0 {
					t.Fatalf("ReadLines(after=%d, limit=%d) = nothing", after, limit)
				}
				assertRecords(t, got, recs[after:after+int64(len(got))])
				last := got[len(got)-1].Seq
				// Bounded: it was not full before its last record.
				var before gaffer.Lines
				before.AddRecords(got[:len(got)-1])
				if limit > 0 && len(got) > limit || before.Full() {
					t.Fatalf("ReadLines(after=%d, limit=%d) = %d records, %d bytes", after, limit, len(got), l.Size())
				}
				if last < n && len(got) != limit && !l.Full() && (limit > 0 || len(got) != 1000) {
					t.Fatalf("ReadLines(after=%d, limit=%d) stopped at %d with room left", after, limit, last)
				}
				if end != (complete && last == n) {
					t.Fatalf("ReadLines(after=%d) to %d: end %v", after, last, end)
				}
				return last
			}
			// Through the log, read after read (the reader's hints), and
			// from odd places.
			for after, limit := int64(0), 1; after < n; limit = limit*7%5003 + 1 {
				after = check(after, limit)
			}
			for after := int64(0); after <= n+1; after += 37 {
				check(after, 0)
			}
		})
	}
	a, _ := newArchive(t)
	var l gaffer.Lines
	if _, err := a.ReadLines(ctx, 9, 0, 0, &l); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("ReadLines of no log: %v, want ENOTFOUND", err)
	}
}
