package web

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// countingWriter counts the writes that reach it: each is a write to the
// connection.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// A viewer that encodes its own records (alone on its job, or filtered)
// sends a read's records in one write, not one per 4 KiB of buffer: its
// bytes are what writeEvent writes record by record.
func TestWriteRecordsWritesAReadAtOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 1, time.UTC)
	recs := make([]gaffer.Record, 1000)
	for i := range recs {
		recs[i] = gaffer.Record{Seq: int64(i + 1), TS: t0.Add(time.Duration(i/300) * time.Millisecond), Host: "web-1",
			Stream: gaffer.Stdout, Data: []byte("line \"of\" output"), NL: true}
	}
	recs[500].Stream = gaffer.System
	for _, form := range []recordsForm{lineEvents, linesEvents, ndjsonLines} {
		var want bytes.Buffer
		wb := bufio.NewWriter(&want)
		for i := 0; i < len(recs); {
			switch form {
			case lineEvents:
				writeEvent(wb, recs[i].Seq, "line", recs[i].AppendJSON(nil))
				i++
			case linesEvents:
				// The runs of each read: ts changes every 300 records,
				// the stream at 500, and a run does not span two reads.
				read := recs[:400]
				if i >= 400 {
					read = recs
				}
				end := i + gaffer.LinesRun(read[i:])
				var enc gaffer.JSONEncoder
				data, _ := enc.AppendLines(nil, recs[i:end])
				fmt.Fprintf(wb, "event: lines\ndata: %s\nid: %d\n\n", data, recs[end-1].Seq)
				i = end
			case ndjsonLines:
				wb.Write(append(recs[i].AppendJSON(nil), '\n'))
				i++
			}
		}
		wb.Flush()

		var got countingWriter
		bw := bufio.NewWriterSize(&got, streamBuffer)
		bw.WriteString("retry: 2000\n\n") // something buffered before
		var enc gaffer.JSONEncoder
		writeRecords(bw, &enc, recs[:400], form)
		writeRecords(bw, &enc, recs[400:], form)
		bw.Flush()
		if g := bytes.TrimPrefix(got.Bytes(), []byte("retry: 2000\n\n")); !bytes.Equal(g, want.Bytes()) {
			t.Fatalf("form %d: the records' bytes differ from writeEvent's:\n%q\nwant\n%q", form, g, want.Bytes())
		}
		// Two reads: each fills up what was buffered, then goes out whole.
		if got.writes > 4 {
			t.Errorf("form %d: %d writes for %d bytes in two reads, want at most 4", form, got.writes, got.Len())
		}
	}
}

// BenchmarkWriteRecords: a viewer's SSE events for a read of 1000 records
// that follow one another, of `seq`'s short lines and of 200 bytes, as line
// events and as lines events (batch=1).
func BenchmarkWriteRecords(b *testing.B) {
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 1, time.UTC)
	for _, shape := range []struct {
		name string
		text func(seq int64) []byte
	}{
		{"seq", func(seq int64) []byte { return strconv.AppendInt(nil, seq, 10) }},
		{"200B", func(seq int64) []byte { return fmt.Appendf(nil, "%0199d", seq) }},
	} {
		recs := make([]gaffer.Record, 1000)
		for i := range recs {
			seq := int64(1_000_000 + i)
			recs[i] = gaffer.Record{Seq: seq, TS: t0, Host: "web-1", Stream: gaffer.Stdout, Data: shape.text(seq), NL: true}
		}
		for _, form := range []struct {
			name string
			form recordsForm
		}{{"line", lineEvents}, {"lines", linesEvents}} {
			b.Run(shape.name+"/"+form.name, func(b *testing.B) {
				var enc gaffer.JSONEncoder
				b.ReportAllocs()
				for b.Loop() {
					writeRecords(io.Discard, &enc, recs, form.form)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
			})
		}
	}
}
