package memory

import (
	"context"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/livelogtest"
)

func TestLiveLog(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		livelogtest.Run(t, func(t *testing.T) gaffer.LiveLog { return NewLiveLog(0) })
	})
	// A small buffer (still above the suite's minimum) trims often, so
	// the suite's ETRIMMED paths run.
	t.Run("Small", func(t *testing.T) {
		livelogtest.Run(t, func(t *testing.T) gaffer.LiveLog { return NewLiveLog(32 << 10) })
	})
}

// TestLiveLog_Bounded appends 1 GB worth of records to one job and checks
// that the buffer never holds more than its limit.
func TestLiveLog_Bounded(t *testing.T) {
	const n, size, maxBytes = 100_000, 10 << 10, 4 << 20
	ctx := context.Background()
	l := NewLiveLog(maxBytes)
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Records share one data slice: the limit counts bytes held by records,
	// and the test need not allocate a gigabyte to exercise it.
	data := make([]byte, size)
	recSize := (&gaffer.Record{Host: "h", Data: data}).Size()
	for seq := int64(1); seq <= n; seq += 10 {
		batch := make([]gaffer.Record, 10)
		for i := range batch {
			batch[i] = gaffer.Record{Seq: seq + int64(i), Host: "h", Stream: gaffer.Stdout, Data: data, NL: true}
		}
		if err := l.Append(ctx, 1, batch); err != nil {
			t.Fatal(err)
		}

		b := l.jobs[1]
		if b.size > maxBytes {
			t.Fatalf("after seq %d the buffer holds %d bytes, limit %d", b.last, b.size, maxBytes)
		} else if held := len(b.recs) - b.head; b.size != held*recSize {
			t.Fatalf("after seq %d: size %d for %d records", b.last, b.size, held)
		} else if int64(held) != b.last-b.first+1 {
			t.Fatalf("after seq %d: %d records held for seqs %d..%d", b.last, held, b.first, b.last)
		} else if cap(b.recs) > 4*held+20 {
			t.Fatalf("after seq %d: backing array of %d for %d records", b.last, cap(b.recs), held)
		}
	}

	for _, after := range []int64{0, 1, n / 2, int64(n - maxBytes/recSize - 1)} {
		if _, _, err := l.Read(ctx, 1, after, 10); gaffer.ErrorCode(err) != gaffer.ETRIMMED {
			t.Errorf("Read(after=%d): %v, want ETRIMMED", after, err)
		}
	}
	recs, _, err := l.Read(ctx, 1, n-10, 100)
	if err != nil {
		t.Fatal(err)
	} else if len(recs) != 10 || recs[0].Seq != n-9 || recs[9].Seq != n {
		t.Fatalf("Read the tail: %d records", len(recs))
	}
}

// TestLiveLog_KeepsNewest checks that a record larger than the whole buffer
// is still held until the next one arrives.
func TestLiveLog_KeepsNewest(t *testing.T) {
	ctx := context.Background()
	l := NewLiveLog(200)
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	big := gaffer.Record{Seq: 1, Data: make([]byte, 1000)}
	if err := l.Append(ctx, 1, []gaffer.Record{big}); err != nil {
		t.Fatal(err)
	}
	if recs, _, err := l.Read(ctx, 1, 0, 10); err != nil || len(recs) != 1 {
		t.Fatalf("Read = %d records, %v; want the big one", len(recs), err)
	}

	if err := l.Append(ctx, 1, []gaffer.Record{{Seq: 2, Data: []byte("x")}, {Seq: 3, Data: []byte("y")}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Read(ctx, 1, 0, 10); gaffer.ErrorCode(err) != gaffer.ETRIMMED {
		t.Fatalf("Read(after=0): %v, want ETRIMMED", err)
	}
	if recs, _, err := l.Read(ctx, 1, 1, 10); err != nil || len(recs) != 2 {
		t.Fatalf("Read(after=1) = %d records, %v; want 2", len(recs), err)
	}
}

// TestLiveLog_ReadIsCopy checks that records returned by Read are unaffected
// by later trims, which zero the buffer's dropped slots.
func TestLiveLog_ReadIsCopy(t *testing.T) {
	ctx := context.Background()
	l := NewLiveLog(300)
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	appendSeq := func(seq int64) {
		t.Helper()
		rec := gaffer.Record{Seq: seq, TS: time.Unix(seq, 0), Host: "h", Data: []byte("data")}
		if err := l.Append(ctx, 1, []gaffer.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	appendSeq(1)
	appendSeq(2)
	got, _, err := l.Read(ctx, 1, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(3); seq <= 20; seq++ {
		appendSeq(seq)
	}
	if len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 || string(got[0].Data) != "data" {
		t.Fatalf("records read earlier changed: %+v", got)
	}
}

func TestLiveLog_CreateTwice(t *testing.T) {
	l := NewLiveLog(0)
	if err := l.Create(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Create(context.Background(), 1); gaffer.ErrorCode(err) != gaffer.ECONFLICT {
		t.Fatalf("second Create: %v, want ECONFLICT", err)
	}
}
