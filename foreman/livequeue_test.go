package foreman

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/memory"
)

// recsOf returns n records with seqs from first, each line `text-<seq>`
// padded to width, in one buffer the test scribbles over afterwards.
func recsOf(first int64, n, width int) []gaffer.Record {
	var buf []byte
	recs := make([]gaffer.Record, n)
	for i := range recs {
		start := len(buf)
		buf = fmt.Appendf(buf, "%-*s", width, fmt.Sprintf("line-%d", first+int64(i)))
		recs[i] = gaffer.Record{Seq: first + int64(i), Host: "h", Stream: gaffer.Stdout, Data: buf[start:len(buf):len(buf)], NL: true}
	}
	return recs
}

func scribble(recs []gaffer.Record) {
	for i := range recs {
		for j := range recs[i].Data {
			recs[i].Data[j] = '#'
		}
	}
}

func checkQueue(t *testing.T, q *liveQueue, first, last int64, width int) {
	t.Helper()
	if got := int64(len(q.recs)); got != last-first+1 {
		t.Fatalf("queue holds %d records, want %d..%d", got, first, last)
	}
	size := 0
	for i, r := range q.recs {
		want := fmt.Sprintf("%-*s", width, fmt.Sprintf("line-%d", first+int64(i)))
		if r.Seq != first+int64(i) || string(r.Data) != want {
			t.Fatalf("record %d: seq %d %q, want seq %d %q", i, r.Seq, r.Data, first+int64(i), want)
		}
		size += r.Size()
	}
	if size != q.size {
		t.Errorf("size %d, records' size %d", q.size, size)
	}
}

// The queue keeps copies: the caller's buffer (a Framer's, reused for the
// next chunk) may change as soon as push returns.
func TestLiveQueueCopies(t *testing.T) {
	for _, width := range []int{8, 200, 40 << 10, 64 << 10, 100 << 10} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			var q liveQueue
			var seq int64 = 1
			for range 5 {
				recs := recsOf(seq, 7, width)
				q.add(recs)
				scribble(recs)
				seq += 7
			}
			checkQueue(t, &q, 1, seq-1, width)
			// Appending to one record's data must not reach the next.
			_ = append(q.recs[0].Data, "XXXXXXXX"...)
			checkQueue(t, &q, 1, seq-1, width)
			q.reset()
			q.add(recsOf(100, 3, width))
			checkQueue(t, &q, 100, 102, width)
		})
	}
}

// While the live log lags, the oldest records are dropped to keep the
// queue within its bound: their blocks go too, so memory stays bounded
// however long the stall, and what remains is intact.
func TestLiveQueueDropsOldestAndTheirBlocks(t *testing.T) {
	const width, chunk = 30, 1000
	var q liveQueue
	var seq int64 = 1
	dropped := 0
	for range 500 { // 15 MB through a 2 MiB queue
		recs := recsOf(seq, chunk, width)
		size := 0
		for i := range recs {
			size += recs[i].Size()
		}
		dropped += q.dropOldest(size, liveQueueBytes)
		q.add(recs)
		scribble(recs)
		seq += chunk
		if q.size > liveQueueBytes {
			t.Fatalf("queue holds %d bytes, bound %d", q.size, liveQueueBytes)
		}
		held := 0
		for _, b := range q.blocks {
			held += cap(b.data)
		}
		if held > liveQueueBytes+liveBlockBytes {
			t.Fatalf("after %d records the queue's blocks hold %d bytes for %d bytes of data", seq-1, held, len(q.recs)*width)
		}
	}
	checkQueue(t, &q, int64(dropped)+1, seq-1, width)
	if len(q.free) > maxFreeBlocks {
		t.Errorf("%d free blocks kept, bound %d", len(q.free), maxFreeBlocks)
	}
	// Everything dropped.
	n := len(q.recs)
	if got := q.dropOldest(liveQueueBytes+1, liveQueueBytes); got != n || len(q.recs) != 0 || q.size != 0 {
		t.Errorf("dropping all: dropped %d of %d, %d left of size %d", got, n, len(q.recs), q.size)
	}
	q.add(recsOf(seq, 2, width))
	checkQueue(t, &q, seq, seq+1, width)
	if !bytes.HasPrefix(q.recs[0].Data, []byte("line-")) {
		t.Errorf("record after a full drop: %q", q.recs[0].Data)
	}
}

// An in-process live log (gaffer.InProcessLiveLog) takes a chunk in line:
// no copy into a queue and no goroutine between the job and its viewers.
// A live log that is not in process (Redis) gets copies through the queue.
func TestLiveAppenderInProcessAppendsInLine(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		live   gaffer.LiveLog
		direct bool
	}{
		{"in process", memory.NewLiveLog(0, 0), true},
		{"elsewhere", notInProcess{memory.NewLiveLog(0, 0)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.live.Create(ctx, 1); err != nil {
				t.Fatal(err)
			}
			a := newLiveAppender(tc.live, 1, slog.New(slog.DiscardHandler), func() {})
			if a.direct != tc.direct {
				t.Fatalf("direct %v, want %v", a.direct, tc.direct)
			}
			recs := recsOf(1, 100, 8)
			a.push(recs)
			scribble(recs) // the Framer's buffer, reused at once
			if tc.direct {
				got, _, err := tc.live.Read(ctx, 1, 0, 1000)
				if err != nil || len(got) != 100 {
					t.Fatalf("right after push the live log holds %d records (%v), want 100", len(got), err)
				}
			}
			if !a.close(5 * time.Second) {
				t.Fatal("live log not closed")
			}
			got, end, err := tc.live.Read(ctx, 1, 0, 1000)
			if err != nil || !end || len(got) != 100 {
				t.Fatalf("after close: %d records, end %v, %v", len(got), end, err)
			}
			for i, r := range got {
				if want := fmt.Sprintf("%-8s", fmt.Sprintf("line-%d", i+1)); string(r.Data) != want {
					t.Fatalf("record %d: %q, want %q", i+1, r.Data, want)
				}
			}
		})
	}
}

// notInProcess hides InProcess: a live log the appender must queue for.
type notInProcess struct{ live gaffer.LiveLog }

func (n notInProcess) Create(ctx context.Context, id int64) error { return n.live.Create(ctx, id) }
func (n notInProcess) Append(ctx context.Context, id int64, recs []gaffer.Record) error {
	return n.live.Append(ctx, id, recs)
}
func (n notInProcess) Read(ctx context.Context, id, after int64, limit int) ([]gaffer.Record, bool, error) {
	return n.live.Read(ctx, id, after, limit)
}
func (n notInProcess) Wait(ctx context.Context, id, after int64) error {
	return n.live.Wait(ctx, id, after)
}
func (n notInProcess) Close(ctx context.Context, id int64) error  { return n.live.Close(ctx, id) }
func (n notInProcess) Delete(ctx context.Context, id int64) error { return n.live.Delete(ctx, id) }
