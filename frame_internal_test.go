package gaffer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Framer keeps its buffers while chunks fill them, and lets a big one go
// once the output slows to a trickle or stops: a stream that printed a
// burst and went quiet does not hold megabytes until its run ends.
func TestFramerLetsBigBuffersGo(t *testing.T) {
	f := NewFramer("h", Stdout, 0, time.Hour, func([]Record) {})
	burst := []byte(strings.Repeat("1234567\n", 32<<10)) // 256 KiB, 32 768 lines
	f.Write(burst)
	f.Write(burst)
	if cap(f.recs) < emitBatch || cap(f.buf) < len(burst) {
		t.Fatalf("during a burst: kept %d records and %d bytes, want a batch's and the chunk's", cap(f.recs), cap(f.buf))
	}
	if f.timer == nil {
		t.Fatal("no quiet timer armed after a burst")
	}
	for i := range lowChunks {
		if cap(f.recs) < emitBatch || cap(f.buf) < len(burst) {
			t.Fatalf("let the buffers go after %d small chunks, want %d", i, lowChunks)
		}
		f.Write([]byte("one line\n"))
	}
	if cap(f.recs) > smallRecords || cap(f.buf) > smallBuffer {
		t.Errorf("after a trickle: kept %d records and %d bytes of buffer", cap(f.recs), cap(f.buf))
	}
	// A burst, then quiet: the quiet flush lets the buffers go.
	f.Write(burst)
	f.flushQuiet()
	if cap(f.recs) > smallRecords || cap(f.buf) > smallBuffer {
		t.Errorf("after a burst and quiet: kept %d records and %d bytes of buffer", cap(f.recs), cap(f.buf))
	}
	// A line cut across the chunk that lets the buffer go comes whole.
	var got []string
	f.emit = func(recs []Record) {
		for i := range recs {
			got = append(got, string(recs[i].Data))
		}
	}
	f.Write(append(append([]byte(nil), burst...), "half a li"...))
	got = got[:0]
	f.Write([]byte("ne\n"))
	f.Write([]byte("tail"))
	f.Close()
	if strings.Join(got, "|") != "half a line|tail" {
		t.Errorf("records %q", got)
	}
}

// A chunk of many short lines reaches emit a batch at a time, every line
// once and in order, the last batch holding what is left.
func TestFramerEmitsBatches(t *testing.T) {
	var sizes []int
	var lines []string
	f := NewFramer("h", Stdout, 0, time.Hour, func(recs []Record) {
		sizes = append(sizes, len(recs))
		for i := range recs {
			lines = append(lines, string(recs[i].Data))
		}
	})
	var chunk strings.Builder
	const n = 2*emitBatch + 100
	for i := range n {
		fmt.Fprintf(&chunk, "%d\n", i)
	}
	f.Write([]byte(chunk.String() + "par"))
	f.Write([]byte("t\n"))
	f.Close()
	if want := []int{emitBatch, emitBatch, 100, 1}; !slices.Equal(sizes, want) {
		t.Errorf("emitted batches of %v records, want %v", sizes, want)
	}
	for i := range n {
		if lines[i] != strconv.Itoa(i) {
			t.Fatalf("record %d is %q", i, lines[i])
		}
	}
	if lines[n] != "part" || len(lines) != n+1 {
		t.Errorf("%d records, the last %q", len(lines), lines[len(lines)-1])
	}
}
