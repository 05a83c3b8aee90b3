package gaffer

import (
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
	if cap(f.recs) < 32<<10 || cap(f.buf) < len(burst) {
		t.Fatalf("during a burst: kept %d records and %d bytes, want the chunk's", cap(f.recs), cap(f.buf))
	}
	if f.timer == nil {
		t.Fatal("no quiet timer armed after a burst")
	}
	for i := range lowChunks {
		if cap(f.recs) < 32<<10 {
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
