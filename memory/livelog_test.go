package memory

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/livelogtest"
)

func TestLiveLog(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		livelogtest.Run(t, func(t *testing.T) gaffer.LiveLog { return NewLiveLog(0, 0) })
	})
	// A small buffer (still above the suite's minimum) trims often, so
	// the suite's ETRIMMED paths run.
	t.Run("Small", func(t *testing.T) {
		livelogtest.Run(t, func(t *testing.T) gaffer.LiveLog { return NewLiveLog(32<<10, 0) })
	})
}

// TestLiveLog_Bounded appends 1 GB worth of records to one job and checks
// that the buffer never holds more than its limit, counted as the bytes its
// segments and source table allocate.
func TestLiveLog_Bounded(t *testing.T) {
	const n, size, maxBytes = 100_000, 10 << 10, 4 << 20
	ctx := context.Background()
	l := NewLiveLog(maxBytes, 0)
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	for seq := int64(1); seq <= n; seq += 10 {
		batch := make([]gaffer.Record, 10)
		for i := range batch {
			batch[i] = gaffer.Record{Seq: seq + int64(i), Host: "h", Stream: gaffer.Stdout, Data: data, NL: true}
		}
		if err := l.Append(ctx, 1, batch); err != nil {
			t.Fatal(err)
		}

		b := l.jobs[1]
		held, alloc := int64(0), srcOverhead+len("h")+len(gaffer.Stdout)
		for i, s := range b.segs {
			held += int64(len(s.meta))
			alloc += segOverhead + cap(s.data) + cap(s.meta)*metaSize
			if i > 0 && s.first != b.segs[i-1].first+int64(len(b.segs[i-1].meta)) {
				t.Fatalf("after seq %d: segment %d starts at seq %d", b.last, i, s.first)
			}
		}
		spares := 0
		for _, s := range b.spares {
			spares += s.bytes()
		}
		if spares != b.spareBytes {
			t.Fatalf("after seq %d: spares hold %d bytes, counted %d", b.last, spares, b.spareBytes)
		}
		alloc += spares
		if b.size > maxBytes {
			t.Fatalf("after seq %d the buffer holds %d bytes, limit %d", b.last, b.size, maxBytes)
		} else if b.size != alloc || l.total != alloc {
			t.Fatalf("after seq %d: size %d (total %d), but %d bytes allocated", b.last, b.size, l.total, alloc)
		} else if held != b.last-b.first+1 {
			t.Fatalf("after seq %d: %d records held for seqs %d..%d", b.last, held, b.first, b.last)
		} else if b.size < maxBytes*3/4 && b.last > 1000 {
			t.Fatalf("after seq %d: only %d bytes held of %d", b.last, b.size, maxBytes)
		}
	}

	for _, after := range []int64{0, 1, n / 2, int64(n - maxBytes/size - 1)} {
		if _, _, err := l.Read(ctx, 1, after, 10); gaffer.ErrorCode(err) != gaffer.ETRIMMED {
			t.Errorf("Read(after=%d): %v, want ETRIMMED", after, err)
		}
	}
	// (5 records: one read holds at most about gaffer.MaxReadBytes.)
	recs, _, err := l.Read(ctx, 1, n-5, 100)
	if err != nil {
		t.Fatal(err)
	} else if len(recs) != 5 || recs[0].Seq != n-4 || recs[4].Seq != n {
		t.Fatalf("Read the tail: %d records", len(recs))
	}
}

// TestLiveLog_KeepsNewest checks that a record larger than the whole buffer
// is still held until the next one arrives.
func TestLiveLog_KeepsNewest(t *testing.T) {
	ctx := context.Background()
	l := NewLiveLog(200, 0)
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
// by later appends and trims (TestLiveLog_ReadKeepsThroughReuse: and by
// their segment being filled again).
func TestLiveLog_ReadIsCopy(t *testing.T) {
	ctx := context.Background()
	l := NewLiveLog(300, 0)
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

// TestLiveLog_ReusesTrimmedSegments: a buffer at its limit puts new records
// into the segment it just trimmed, not a new one: a fast stream of short
// lines would otherwise allocate, zero and collect its whole output, 64 KiB
// at a time. An Append's one allocation is the wake-up channel.
func TestLiveLog_ReusesTrimmedSegments(t *testing.T) {
	ctx := context.Background()
	const maxBytes, batch, batches = 1 << 20, 100, 30 // 3 000 short lines: more than a segment
	l := NewLiveLog(maxBytes, 0)
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	recs := make([]gaffer.Record, batch)
	ts, data := time.Now(), []byte("1234567")
	appendBatches := func() {
		for range batches {
			last := l.jobs[1].last
			for i := range recs {
				recs[i] = gaffer.Record{Seq: last + 1 + int64(i), TS: ts, Host: "h", Stream: gaffer.Stdout, Data: data, NL: true}
			}
			if err := l.Append(ctx, 1, recs); err != nil {
				t.Fatal(err)
			}
		}
	}
	for l.jobs[1].size < maxBytes-2*maxSegBytes {
		appendBatches()
	}
	appendBatches()
	if n := testing.AllocsPerRun(20, appendBatches); n != batches {
		t.Errorf("%v allocations for %d appends at the limit, want %d (their wake-up channels)", n, batches, batches)
	}
	checkTotal(t, l)
}

// TestLiveLog_ReadKeepsThroughReuse: records read before their segment is
// trimmed and filled again keep their bytes (Read copies them out).
func TestLiveLog_ReadKeepsThroughReuse(t *testing.T) {
	ctx := context.Background()
	const maxBytes = 256 << 10
	l := NewLiveLog(maxBytes, 0)
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	text := func(seq int64) string { return fmt.Sprintf("line %07d", seq) }
	var seq int64
	appendLines := func(n int) {
		t.Helper()
		batch := make([]gaffer.Record, n)
		for i := range batch {
			seq++
			batch[i] = gaffer.Record{Seq: seq, Host: "h", Stream: gaffer.Stdout, Data: []byte(text(seq)), NL: true}
		}
		if err := l.Append(ctx, 1, batch); err != nil {
			t.Fatal(err)
		}
	}
	for len(l.jobs[1].spares) == 0 {
		appendLines(100)
	}
	// Every record held: some of their segments become spares and are
	// filled again by what follows.
	var got []gaffer.Record
	for after := l.jobs[1].first - 1; after < seq; {
		recs, _, err := l.Read(ctx, 1, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, recs...)
		after = recs[len(recs)-1].Seq
	}
	// Far past the buffer's size: every segment is trimmed.
	for range 4 * maxBytes / 100 / 16 {
		appendLines(100)
	}
	if l.jobs[1].first <= got[len(got)-1].Seq {
		t.Fatalf("the records read were not trimmed (first %d)", l.jobs[1].first)
	}
	for _, r := range got {
		if string(r.Data) != text(r.Seq) {
			t.Fatalf("record %d read before its segment was reused now holds %q", r.Seq, r.Data)
		}
	}
}

func TestLiveLog_CreateTwice(t *testing.T) {
	l := NewLiveLog(0, 0)
	if err := l.Create(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Create(context.Background(), 1); gaffer.ErrorCode(err) != gaffer.ECONFLICT {
		t.Fatalf("second Create: %v, want ECONFLICT", err)
	}
}

// TestLiveLog_CountsRealMemory fills buffers with short lines, whose memory
// is mostly per-record overhead, and checks with the Go heap itself that
// the buffers hold no more than their limit says.
func TestLiveLog_CountsRealMemory(t *testing.T) {
	const jobs, maxBytes, n = 4, 4 << 20, 1_000_000
	ctx := context.Background()
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	l := NewLiveLog(maxBytes, 0)
	for job := int64(1); job <= jobs; job++ {
		if err := l.Create(ctx, job); err != nil {
			t.Fatal(err)
		}
		batch := make([]gaffer.Record, 1000)
		for seq := int64(1); seq <= n; seq += int64(len(batch)) {
			for i := range batch {
				// A fresh 1-byte slice per record, as the framer makes them.
				batch[i] = gaffer.Record{Seq: seq + int64(i), TS: time.Now(), Host: "web-1", Stream: gaffer.Stdout, Data: []byte{'x'}, NL: true}
			}
			if err := l.Append(ctx, job, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	held := int64(heap()) - int64(before)
	t.Logf("%d buffers of %d MiB hold %.1f MiB of Go heap", jobs, maxBytes>>20, float64(held)/(1<<20))
	if limit := int64(jobs * maxBytes * 11 / 10); held > limit {
		t.Fatalf("%d buffers of %d bytes hold %d bytes of heap, more than %d", jobs, maxBytes, held, limit)
	}
	runtime.KeepAlive(l)
}

// appendN appends n records of size bytes each to job, in batches of 100.
func appendN(t *testing.T, l *LiveLog, job int64, n, size int) {
	t.Helper()
	data := make([]byte, size)
	b := l.jobs[job]
	for done := 0; done < n; {
		batch := make([]gaffer.Record, min(100, n-done))
		for i := range batch {
			batch[i] = gaffer.Record{Seq: b.last + 1 + int64(i), Host: "h", Stream: gaffer.Stdout, Data: data, NL: true}
		}
		if err := l.Append(context.Background(), job, batch); err != nil {
			t.Fatal(err)
		}
		done += len(batch)
	}
}

// checkTotal asserts that the budget's count is the sum of the buffers'.
func checkTotal(t *testing.T, l *LiveLog) {
	t.Helper()
	sum := 0
	for _, b := range l.jobs {
		sum += b.size
	}
	if sum != l.total {
		t.Fatalf("total %d, but the buffers hold %d", l.total, sum)
	}
}

// TestLiveLog_Budget checks the bound on all buffers together: the largest
// lose their oldest records first, small ones keep theirs, each keeps its
// newest records, and deleted buffers give their bytes back.
func TestLiveLog_Budget(t *testing.T) {
	ctx := context.Background()
	const perJob, budget = 1 << 20, 2 << 20

	t.Run("AllJobsWithin", func(t *testing.T) {
		l := NewLiveLog(perJob, budget)
		for job := int64(1); job <= 5; job++ {
			if err := l.Create(ctx, job); err != nil {
				t.Fatal(err)
			}
		}
		for round := 0; round < 20; round++ {
			for job := int64(1); job <= 5; job++ {
				appendN(t, l, job, 100, 1000)
				checkTotal(t, l)
				if l.total > budget {
					t.Fatalf("round %d, job %d: buffers hold %d bytes, budget %d", round, job, l.total, budget)
				}
			}
		}
		for job := int64(1); job <= 5; job++ {
			last := l.jobs[job].last
			if recs, _, err := l.Read(ctx, job, last-1, 10); err != nil || len(recs) != 1 {
				t.Fatalf("job %d: newest record: %d records, %v", job, len(recs), err)
			}
			if _, _, err := l.Read(ctx, job, 0, 10); gaffer.ErrorCode(err) != gaffer.ETRIMMED {
				t.Fatalf("job %d: Read(after=0) = %v, want ETRIMMED", job, err)
			}
		}
	})

	t.Run("LargestFirst", func(t *testing.T) {
		l := NewLiveLog(perJob, budget)
		for job := int64(1); job <= 3; job++ {
			if err := l.Create(ctx, job); err != nil {
				t.Fatal(err)
			}
		}
		appendN(t, l, 1, 100, 100) // small
		appendN(t, l, 2, 900, 1000)
		appendN(t, l, 3, 4000, 1000) // over its own limit: trimmed to it
		appendN(t, l, 2, 900, 1000)  // now the largest: it pays
		checkTotal(t, l)
		if l.total > budget {
			t.Fatalf("buffers hold %d bytes, budget %d", l.total, budget)
		}
		if recs, _, err := l.Read(ctx, 1, 0, 1000); err != nil || len(recs) != 100 {
			t.Fatalf("the small job lost records: %d records, %v", len(recs), err)
		}
		if b2, b3 := l.jobs[2].size, l.jobs[3].size; b2 > b3+maxSegBytes || b3 > b2+maxSegBytes {
			t.Fatalf("job 2 holds %d bytes and job 3 %d: the largest should have been trimmed to even them out", b2, b3)
		}
	})

	t.Run("NewestKept", func(t *testing.T) {
		l := NewLiveLog(perJob, 1) // every buffer is over budget
		for job := int64(1); job <= 3; job++ {
			if err := l.Create(ctx, job); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, job, 1000, 100)
		}
		checkTotal(t, l)
		for job := int64(1); job <= 3; job++ {
			if recs, _, err := l.Read(ctx, job, 999, 10); err != nil || len(recs) != 1 {
				t.Fatalf("job %d: newest record: %d records, %v", job, len(recs), err)
			}
			if n := len(l.jobs[job].segs); n != 1 {
				t.Fatalf("job %d holds %d segments over budget, want only its newest", job, n)
			}
		}
	})

	t.Run("DeleteGivesBack", func(t *testing.T) {
		l := NewLiveLog(perJob, budget)
		for job := int64(1); job <= 3; job++ {
			if err := l.Create(ctx, job); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, job, 500, 1000)
		}
		for job := int64(1); job <= 3; job++ {
			if err := l.Delete(ctx, job); err != nil {
				t.Fatal(err)
			}
			checkTotal(t, l)
		}
		if jobs, bytes := l.Held(); jobs != 0 || bytes != 0 {
			t.Fatalf("after deleting every buffer: %d jobs hold %d bytes", jobs, bytes)
		}
	})
}
