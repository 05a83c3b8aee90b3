// Package livelogtest is the contract every gaffer.LiveLog implementation
// must meet. An implementation's tests call Run with a constructor:
//
//	func TestLiveLog(t *testing.T) {
//		livelogtest.Run(t, func(t *testing.T) gaffer.LiveLog { return memory.NewLiveLog(0, 0) })
//	}
//
// The suite is neutral about buffer sizes: where records may have been
// trimmed it accepts either the exact records or ETRIMMED, never records that
// are missing, duplicated or out of order. It does expect a buffer to hold at
// least the newest 200 small records (about 20 KiB): tests of reading and
// waiting use fewer than that and expect them all.
package livelogtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// hang bounds every blocking call so a broken implementation fails the test
// instead of hanging it. It is a guard, not a timing assertion.
const hang = 30 * time.Second

// Run runs the contract suite. open must return a fresh LiveLog for each
// call; it may register cleanups on t.
func Run(t *testing.T, open func(t *testing.T) gaffer.LiveLog) {
	tests := []struct {
		name string
		fn   func(t *testing.T, l gaffer.LiveLog)
	}{
		{"Empty", testEmpty},
		{"RoundTrip", testRoundTrip},
		{"ReadAfter", testReadAfter},
		{"Limit", testLimit},
		{"LimitBytes", testLimitBytes},
		{"End", testEnd},
		{"AppendAfterClose", testAppendAfterClose},
		{"SequenceGap", testSequenceGap},
		{"SkipAhead", testSkipAhead},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"JobsIndependent", testJobsIndependent},
		{"WaitDataThere", testWaitDataThere},
		{"WaitAppend", testWaitAppend},
		{"WaitClose", testWaitClose},
		{"WaitDelete", testWaitDelete},
		{"WaitCancel", testWaitCancel},
		{"Trim", testTrim},
		{"ConcurrentReaders", testConcurrentReaders},
	}
	if _, ok := open(t).(gaffer.ReaderInto); ok {
		tests = append(tests, struct {
			name string
			fn   func(t *testing.T, l gaffer.LiveLog)
		}{"ReadInto", testReadInto})
	}
	if _, ok := open(t).(gaffer.LinesReader); ok {
		tests = append(tests, struct {
			name string
			fn   func(t *testing.T, l gaffer.LiveLog)
		}{"ReadLines", testReadLines})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

func testEmpty(t *testing.T, l gaffer.LiveLog) {
	ctx := context.Background()
	mustCreate(t, l, 1)
	recs, end, err := l.Read(ctx, 1, 0, 10)
	if err != nil {
		t.Fatal(err)
	} else if len(recs) != 0 || end {
		t.Fatalf("Read empty log = %d records, end %v; want 0, false", len(recs), end)
	}

	mustClose(t, l, 1)
	recs, end, err = l.Read(ctx, 1, 0, 10)
	if err != nil {
		t.Fatal(err)
	} else if len(recs) != 0 || !end {
		t.Fatalf("Read closed empty log = %d records, end %v; want 0, true", len(recs), end)
	}
}

func testRoundTrip(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	ts := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	want := []gaffer.Record{
		{Seq: 1, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("hello"), NL: true},
		{Seq: 2, TS: ts.Add(time.Nanosecond), Host: "web-2", Stream: gaffer.Stderr, Data: []byte("a\x00b\xff\xfe\r"), NL: false},
		{Seq: 3, TS: ts.Add(time.Second), Host: "", Stream: gaffer.System, Data: []byte{}, NL: true},
		{Seq: 4, TS: ts, Host: "db", Stream: gaffer.Stdout, Data: []byte("progress 10%\rprogress 20%\r"), NL: true},
		{Seq: 5, TS: ts, Host: "db", Stream: gaffer.Stdout, File: "/var/log/app.log", Data: []byte("followed"), NL: true, Alert: true},
		{Seq: 6, TS: ts, Host: "db", Stream: gaffer.Stdout, File: "/var/log/other.log", Data: []byte("other file"), NL: true},
		{Seq: 7, TS: ts, Host: "db", Stream: gaffer.Stdout, Data: []byte("no file"), NL: true},
	}
	mustAppend(t, l, 1, want)
	got := mustRead(t, l, 1, 0, 100)
	if len(got) != len(want) {
		t.Fatalf("Read = %d records, want %d", len(got), len(want))
	}
	for i := range want {
		assertRecord(t, got[i], want[i])
	}
}

func testReadAfter(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	for i := int64(0); i < 10; i++ {
		mustAppend(t, l, 1, recs(i*10+1, 10))
	}
	tests := []struct {
		after     int64
		limit     int
		first     int64
		n         int
		wantEmpty bool
	}{
		{after: 0, limit: 5, first: 1, n: 5},
		{after: 40, limit: 10, first: 41, n: 10},
		{after: 45, limit: 1000, first: 46, n: 55},
		{after: 99, limit: 10, first: 100, n: 1},
		{after: 100, limit: 10, n: 0},
		{after: 150, limit: 10, n: 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after=%d,limit=%d", tt.after, tt.limit), func(t *testing.T) {
			got, end, err := l.Read(context.Background(), 1, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			} else if end {
				t.Fatal("end = true on an open log")
			}
			assertSeqs(t, got, tt.first, tt.n)
		})
	}
}

// testReadInto: a log that reads into the caller's buffer returns what
// Read does, in the buffer's slice and memory when they have room.
func testReadInto(t *testing.T, l gaffer.LiveLog) {
	ri := l.(gaffer.ReaderInto)
	ctx := context.Background()
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 100))
	junk := gaffer.Record{Seq: 999, Host: "junk", Stream: gaffer.Stderr, Data: []byte("junk")}
	for _, tt := range []struct {
		after int64
		limit int
		room  int // the capacity of the buffer's slice, and of its memory
	}{
		{0, 10, 2000}, {40, 1000, 2000}, {99, 10, 2000}, {100, 10, 2000}, {0, 1000, 1}, {20, 5, 0},
	} {
		t.Run(fmt.Sprintf("after=%d,limit=%d,room=%d", tt.after, tt.limit, tt.room), func(t *testing.T) {
			want, wantEnd, err := l.Read(ctx, 1, tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var buf gaffer.ReadBuffer
			if tt.room > 0 {
				buf.Recs = append(make([]gaffer.Record, 0, tt.room), junk, junk)[:0]
				buf.Data = append(make([]byte, 0, 100*tt.room), "junk"...)
			}
			recs0, data0 := buf.Recs[:min(1, cap(buf.Recs))], buf.Data[:min(1, cap(buf.Data))]
			got, end, err := ri.ReadInto(ctx, 1, tt.after, tt.limit, &buf)
			if err != nil || end != wantEnd || len(got) != len(want) {
				t.Fatalf("ReadInto = %d records, end %v, %v; Read gave %d, end %v", len(got), end, err, len(want), wantEnd)
			}
			for i := range want {
				assertRecord(t, got[i], want[i])
			}
			if len(got) > 0 && tt.room >= 1000 {
				if &got[0] != &recs0[0] {
					t.Error("the records were not read into the buffer's slice, which had room for them")
				}
				if &got[0].Data[0] != &data0[0] {
					t.Error("the records' data were not copied into the buffer's memory, which had room for them")
				}
			}
			if len(got) > 0 && &got[0] != &buf.Recs[:1][0] {
				t.Error("the records read are not in buf.Recs")
			}
		})
	}
	if _, _, err := ri.ReadInto(ctx, 404, 0, 10, &gaffer.ReadBuffer{}); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("ReadInto of a job with no log: %v, want ENOTFOUND", err)
	}
}

// testReadLines: ReadLines reads what Read does, as lines: every record
// after `after` in order (sources, times, alerts and a line without a
// newline kept), up to limit or a full Lines, at least one, and the same
// end and errors.
func testReadLines(t *testing.T, l gaffer.LiveLog) {
	lr := l.(gaffer.LinesReader)
	ctx := context.Background()
	mustCreate(t, l, 1)
	var all []gaffer.Record
	t0 := time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)
	for k := range 30 {
		batch := recs(int64(len(all)+1), 1+k*k%50)
		for i := range batch {
			r := &batch[i]
			// Time changes more often than the source, and back.
			r.TS = t0.Add(time.Duration(k%3) * time.Millisecond)
			r.Host = fmt.Sprintf("web-%d", k/4%3)
			r.Stream = []gaffer.Stream{gaffer.Stdout, gaffer.Stderr}[k/8%2]
			r.NL = r.Seq%11 != 0
			r.Alert = r.Seq%7 == 0
			if k%5 == 0 {
				r.File = "/var/log/app.log"
			}
		}
		mustAppend(t, l, 1, batch)
		all = append(all, batch...)
	}
	mustClose(t, l, 1)
	n := int64(len(all))
	var ln gaffer.Lines
	for _, tt := range []struct {
		after int64
		limit int
	}{{0, 1}, {0, 10}, {0, 1000}, {0, 0}, {17, 3}, {n - 5, 1000}, {n - 1, 1}, {n, 10}, {n + 3, 10}} {
		end, err := lr.ReadLines(ctx, 1, tt.after, tt.limit, &ln)
		if gaffer.ErrorCode(err) == gaffer.ETRIMMED {
			continue // a small buffer: the suite is neutral about sizes
		} else if err != nil {
			t.Fatalf("ReadLines(after=%d, limit=%d): %v", tt.after, tt.limit, err)
		}
		got := ln.Records(nil)
		from := min(tt.after, n)
		if tt.after < n && len(got) == 0 || tt.limit > 0 && len(got) > tt.limit || from+int64(len(got)) > n {
			t.Fatalf("ReadLines(after=%d, limit=%d) = %d records", tt.after, tt.limit, len(got))
		}
		for i := range got {
			assertRecord(t, got[i], all[from+int64(i)])
		}
		last := from + int64(len(got))
		if last < n && len(got) != tt.limit && !ln.Full() && (tt.limit > 0 || len(got) < 1000) {
			t.Fatalf("ReadLines(after=%d, limit=%d) stopped at %d with room left", tt.after, tt.limit, last)
		}
		if end != (last == n) {
			t.Fatalf("ReadLines(after=%d, limit=%d) to %d: end %v", tt.after, tt.limit, last, end)
		}
	}
	if _, err := lr.ReadLines(ctx, 404, 0, 10, &ln); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("ReadLines of a job with no log: %v, want ENOTFOUND", err)
	}
	// A trimmed read fails as Read does.
	mustCreate(t, l, 2)
	big := recs(1, 400)
	for i := range big {
		big[i].Data = bytes.Repeat([]byte("x"), 64<<10)
	}
	for _, r := range big {
		mustAppend(t, l, 2, []gaffer.Record{r})
	}
	_, _, rerr := l.Read(ctx, 2, 0, 10)
	_, err := lr.ReadLines(ctx, 2, 0, 10, &ln)
	if gaffer.ErrorCode(err) != gaffer.ErrorCode(rerr) {
		t.Errorf("ReadLines of a trimmed start: %v; Read: %v", err, rerr)
	}
}

func testLimit(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 50))
	var seen int64
	for seen < 50 {
		got := mustRead(t, l, 1, seen, 7)
		if len(got) == 0 || len(got) > 7 {
			t.Fatalf("Read(after=%d, limit=7) = %d records", seen, len(got))
		}
		assertSeqs(t, got, seen+1, len(got))
		seen = got[len(got)-1].Seq
	}
}

// testLimitBytes: one Read holds about gaffer.MaxReadBytes at most (by
// Record.Size), and at least one record; paging reaches every record that
// was not trimmed.
func testLimitBytes(t *testing.T, l gaffer.LiveLog) {
	const n, line = 12, 16 << 10
	mustCreate(t, l, 1)
	batch := recs(1, n)
	for i := range batch {
		batch[i].Data = bytes.Repeat([]byte{'a' + byte(i)}, line)
	}
	mustAppend(t, l, 1, batch)
	bound := gaffer.MaxReadBytes + batch[0].Size()
	for after := int64(0); after < n; {
		got, _, err := l.Read(context.Background(), 1, after, 1000)
		if gaffer.ErrorCode(err) == gaffer.ETRIMMED {
			after++ // a small buffer: the suite is neutral about sizes
			continue
		} else if err != nil {
			t.Fatalf("Read(after=%d): %v", after, err)
		}
		size := 0
		for i := range got {
			size += got[i].Size()
		}
		if len(got) == 0 || size > bound {
			t.Fatalf("Read(after=%d) = %d records of %d bytes in all; want 1 or more, at most %d bytes", after, len(got), size, bound)
		}
		assertSeqs(t, got, after+1, len(got))
		after = got[len(got)-1].Seq
	}
}

func testEnd(t *testing.T, l gaffer.LiveLog) {
	ctx := context.Background()
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 20))
	mustClose(t, l, 1)

	tests := []struct {
		after   int64
		limit   int
		n       int
		wantEnd bool
	}{
		{after: 0, limit: 100, n: 20, wantEnd: true},
		{after: 0, limit: 20, n: 20, wantEnd: true},
		{after: 0, limit: 19, n: 19, wantEnd: false},
		{after: 10, limit: 5, n: 5, wantEnd: false},
		{after: 15, limit: 5, n: 5, wantEnd: true},
		{after: 20, limit: 5, n: 0, wantEnd: true},
	}
	for _, tt := range tests {
		got, end, err := l.Read(ctx, 1, tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		assertSeqs(t, got, tt.after+1, tt.n)
		if end != tt.wantEnd {
			t.Errorf("Read(after=%d, limit=%d) end = %v, want %v", tt.after, tt.limit, end, tt.wantEnd)
		}
	}
}

func testAppendAfterClose(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 3))
	mustClose(t, l, 1)
	if err := l.Append(context.Background(), 1, recs(4, 1)); err == nil {
		t.Fatal("Append after Close succeeded")
	}
	got, end, err := l.Read(context.Background(), 1, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	assertSeqs(t, got, 1, 3)
	if !end {
		t.Fatal("end = false after Close")
	}
}

func testSequenceGap(t *testing.T, l gaffer.LiveLog) {
	ctx := context.Background()
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 3))

	bad := map[string][]gaffer.Record{
		"repeat":         recs(3, 2),
		"restart":        recs(1, 1),
		"gap inside":     {rec(4), rec(6)},
		"backwards":      {rec(5), rec(4)},
		"duplicate pair": {rec(4), rec(4)},
	}
	for name, batch := range bad {
		if err := l.Append(ctx, 1, batch); err == nil {
			t.Errorf("Append %s succeeded", name)
		} else if code := gaffer.ErrorCode(err); code == gaffer.ENOTFOUND || code == gaffer.ETRIMMED {
			t.Errorf("Append %s: code %q", name, code)
		}
	}
	// Rejected batches leave nothing behind, and the log goes on.
	assertSeqs(t, mustRead(t, l, 1, 0, 100), 1, 3)
	mustAppend(t, l, 1, recs(4, 2))
	assertSeqs(t, mustRead(t, l, 1, 0, 100), 1, 5)
}

// testSkipAhead: the writer skips records it could not append in time
// (they are in the archive). The buffer goes on from there; reads of the
// skipped seqs get ETRIMMED saying where it goes on.
func testSkipAhead(t *testing.T, l gaffer.LiveLog) {
	ctx := context.Background()
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 3))
	mustAppend(t, l, 1, recs(10, 2))
	for _, after := range []int64{0, 3, 8} {
		_, _, err := l.Read(ctx, 1, after, 10)
		var te *gaffer.TrimmedError
		if !errors.As(err, &te) || gaffer.ErrorCode(err) != gaffer.ETRIMMED {
			t.Fatalf("Read(after=%d) across skipped records: %v, want a *gaffer.TrimmedError", after, err)
		} else if te.First != 10 {
			t.Errorf("Read(after=%d): TrimmedError.First = %d, want 10", after, te.First)
		}
	}
	assertSeqs(t, mustRead(t, l, 1, 9, 10), 10, 2)
	if err := l.Append(ctx, 1, recs(5, 1)); err == nil {
		t.Error("Append going back after a skip succeeded")
	}
	wctx, cancel := context.WithTimeout(ctx, hang)
	defer cancel()
	if err := l.Wait(wctx, 1, 3); err != nil {
		t.Errorf("Wait(after=3) with records 10-11 there: %v", err)
	}
	mustAppend(t, l, 1, recs(12, 1))
	mustClose(t, l, 1)
	got, end, err := l.Read(ctx, 1, 9, 10)
	if err != nil || !end {
		t.Fatalf("Read after Close: end=%v err=%v", end, err)
	}
	assertSeqs(t, got, 10, 3)
}

func testNotFound(t *testing.T, l gaffer.LiveLog) {
	ctx := context.Background()
	if _, _, err := l.Read(ctx, 404, 0, 10); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("Read unknown job: %v, want ENOTFOUND", err)
	}
	if err := l.Append(ctx, 404, recs(1, 1)); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("Append unknown job: %v, want ENOTFOUND", err)
	}
	if err := l.Close(ctx, 404); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("Close unknown job: %v, want ENOTFOUND", err)
	}
	// Wait must not block on a job that does not exist.
	wctx, cancel := context.WithTimeout(ctx, hang)
	defer cancel()
	if err := l.Wait(wctx, 404, 0); err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Errorf("Wait unknown job: %v, want nil or ENOTFOUND", err)
	}
}

func testDelete(t *testing.T, l gaffer.LiveLog) {
	ctx := context.Background()
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 10))
	mustClose(t, l, 1)
	if err := l.Delete(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Read(ctx, 1, 0, 10); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Read after Delete: %v, want ENOTFOUND", err)
	}
	if _, _, err := l.Read(ctx, 1, 5, 10); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Read after Delete: %v, want ENOTFOUND", err)
	}
}

func testJobsIndependent(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	mustCreate(t, l, 2)
	mustAppend(t, l, 1, recs(1, 5))
	mustAppend(t, l, 2, recs(1, 2))
	mustClose(t, l, 2)
	assertSeqs(t, mustRead(t, l, 1, 0, 100), 1, 5)
	assertSeqs(t, mustRead(t, l, 2, 0, 100), 1, 2)
	if _, end, _ := l.Read(context.Background(), 1, 5, 100); end {
		t.Fatal("closing job 2 ended job 1")
	}
}

func testWaitDataThere(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 3))
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	for _, after := range []int64{0, 1, 2} {
		if err := l.Wait(ctx, 1, after); err != nil {
			t.Fatalf("Wait(after=%d) with data there: %v", after, err)
		}
	}

	mustClose(t, l, 1)
	if err := l.Wait(ctx, 1, 3); err != nil {
		t.Fatalf("Wait at the end of a closed log: %v", err)
	}
}

// waitAsync starts Wait in a goroutine and returns its result channel.
func waitAsync(l gaffer.LiveLog, ctx context.Context, jobID, after int64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- l.Wait(ctx, jobID, after) }()
	return ch
}

func receive(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(hang):
		t.Fatal("Wait did not return")
		return nil
	}
}

func testWaitAppend(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 2))
	ctx := context.Background()

	// Many waiters, all woken by one append.
	var chs []<-chan error
	for i := 0; i < 10; i++ {
		chs = append(chs, waitAsync(l, ctx, 1, 2))
	}
	mustAppend(t, l, 1, recs(3, 1))
	for _, ch := range chs {
		if err := receive(t, ch); err != nil {
			t.Fatalf("Wait woken by Append: %v", err)
		}
	}
	assertSeqs(t, mustRead(t, l, 1, 2, 10), 3, 1)
}

func testWaitClose(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	mustAppend(t, l, 1, recs(1, 2))
	var chs []<-chan error
	for i := 0; i < 10; i++ {
		chs = append(chs, waitAsync(l, context.Background(), 1, 2))
	}
	mustClose(t, l, 1)
	for _, ch := range chs {
		if err := receive(t, ch); err != nil {
			t.Fatalf("Wait woken by Close: %v", err)
		}
	}
	if _, end, _ := l.Read(context.Background(), 1, 2, 10); !end {
		t.Fatal("end = false after Close")
	}
}

func testWaitDelete(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	ch := waitAsync(l, context.Background(), 1, 0)
	if err := l.Delete(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	// Woken by Delete (nil), or called after it (ENOTFOUND): never blocked.
	if err := receive(t, ch); err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Wait on a deleted log: %v", err)
	}
}

func testWaitCancel(t *testing.T, l gaffer.LiveLog) {
	mustCreate(t, l, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ch := waitAsync(l, ctx, 1, 0)
	cancel()
	if err := receive(t, ch); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v, want context.Canceled", err)
	}

	// A done context with no data returns at once too.
	if err := l.Wait(ctx, 1, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a canceled context: %v, want context.Canceled", err)
	}
}

// testTrim appends more than a small buffer holds. Whatever an
// implementation keeps, a read returns the exact records or ETRIMMED, and
// the newest record is always there.
func testTrim(t *testing.T, l gaffer.LiveLog) {
	const n, size = 4000, 4 << 10 // 16 MiB: more than a live buffer holds
	mustCreate(t, l, 1)
	data := bytes.Repeat([]byte("x"), size)
	for seq := int64(1); seq <= n; seq += 100 {
		batch := recs(seq, 100)
		for i := range batch {
			batch[i].Data = data
		}
		mustAppend(t, l, 1, batch)
	}

	trimmed := 0
	for _, after := range []int64{0, 1, 1000, 2000, 3000, 3500, 3900, 3990, n - 1} {
		got, _, err := l.Read(context.Background(), 1, after, 50)
		if gaffer.ErrorCode(err) == gaffer.ETRIMMED {
			trimmed++
			if after == n-1 {
				t.Fatal("the newest record was trimmed")
			}
			var te *gaffer.TrimmedError
			if !errors.As(err, &te) || te.First <= after+1 || te.First > n {
				t.Fatalf("Read(after=%d): ETRIMMED %#v: want a *gaffer.TrimmedError with First in (%d, %d]", after, err, after+1, n)
			}
			// The buffer holds its first record.
			assertSeqs(t, mustRead(t, l, 1, te.First-1, 1), te.First, 1)
			continue
		} else if err != nil {
			t.Fatalf("Read(after=%d): %v", after, err)
		}
		// Fewer than asked only where the byte bound cut the read short.
		want, size := int(min(50, n-after)), 0
		for i := range got {
			size += got[i].Size()
		}
		if len(got) > 0 && len(got) < want && size >= gaffer.MaxReadBytes {
			want = len(got)
		}
		assertSeqs(t, got, after+1, want)
		for i := range got {
			if !bytes.Equal(got[i].Data, data) {
				t.Fatalf("record %d: wrong data", got[i].Seq)
			}
		}
	}
	t.Logf("%d of 9 reads trimmed", trimmed)
}

// testConcurrentReaders follows a writer with many readers, as the server
// does: the writer puts each batch in an archive first (here a slice), then
// in the live log; a reader that gets ETRIMMED reads the archive.
func testConcurrentReaders(t *testing.T, l gaffer.LiveLog) {
	const n, batchSize, readers = 100_000, 100, 8
	ctx, cancel := context.WithTimeout(context.Background(), 5*hang)
	defer cancel()
	mustCreate(t, l, 1)

	var archive struct {
		sync.RWMutex
		recs []gaffer.Record
	}
	readArchive := func(after int64, limit int) []gaffer.Record {
		archive.RLock()
		defer archive.RUnlock()
		lo := min(int(after), len(archive.recs))
		hi := min(lo+limit, len(archive.recs))
		return archive.recs[lo:hi]
	}

	errc := make(chan error, readers+1)
	var wg sync.WaitGroup
	wg.Add(readers + 1)
	go func() {
		defer wg.Done()
		for seq := int64(1); seq <= n; seq += batchSize {
			batch := recs(seq, batchSize)
			archive.Lock()
			archive.recs = append(archive.recs, batch...)
			archive.Unlock()
			if err := l.Append(ctx, 1, batch); err != nil {
				errc <- fmt.Errorf("append %d: %w", seq, err)
				return
			}
		}
		if err := l.Close(ctx, 1); err != nil {
			errc <- fmt.Errorf("close: %w", err)
		}
	}()

	fromArchive := make([]int, readers)
	for r := 0; r < readers; r++ {
		go func() {
			defer wg.Done()
			errc <- follow(ctx, l, readArchive, r, &fromArchive[r], n)
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("records read from the archive after ETRIMMED, per reader: %v", fromArchive)
}

// follow reads job 1 from the start to its end and checks that it sees every
// seq from 1 to n exactly once, in order.
func follow(ctx context.Context, l gaffer.LiveLog, readArchive func(int64, int) []gaffer.Record, r int, fromArchive *int, n int64) error {
	var after int64
	limit := 100 + 37*r // readers out of step with the writer's batches
	for {
		got, end, err := l.Read(ctx, 1, after, limit)
		if gaffer.ErrorCode(err) == gaffer.ETRIMMED {
			got = readArchive(after, limit)
			*fromArchive += len(got)
			if len(got) == 0 {
				return fmt.Errorf("reader %d: ETRIMMED after %d, but the archive has nothing there", r, after)
			}
		} else if err != nil {
			return fmt.Errorf("reader %d: read after %d: %w", r, after, err)
		}
		for i := range got {
			if want := after + 1; got[i].Seq != want {
				return fmt.Errorf("reader %d: got seq %d, want %d", r, got[i].Seq, want)
			} else if string(got[i].Data) != line(want) {
				return fmt.Errorf("reader %d: seq %d has data %q", r, want, got[i].Data)
			}
			after++
		}
		if end {
			if after != n {
				return fmt.Errorf("reader %d: end after %d records, want %d", r, after, n)
			}
			return nil
		} else if len(got) == 0 {
			if err := l.Wait(ctx, 1, after); err != nil {
				return fmt.Errorf("reader %d: wait after %d: %w", r, after, err)
			}
		}
	}
}

func line(seq int64) string { return fmt.Sprintf("line %d", seq) }

func rec(seq int64) gaffer.Record {
	return gaffer.Record{
		Seq:    seq,
		TS:     time.Unix(1700000000, seq).UTC(),
		Host:   "host",
		Stream: gaffer.Stdout,
		Data:   []byte(line(seq)),
		NL:     true,
	}
}

func recs(first int64, n int) []gaffer.Record {
	out := make([]gaffer.Record, n)
	for i := range out {
		out[i] = rec(first + int64(i))
	}
	return out
}

func mustCreate(t *testing.T, l gaffer.LiveLog, jobID int64) {
	t.Helper()
	if err := l.Create(context.Background(), jobID); err != nil {
		t.Fatalf("Create(%d): %v", jobID, err)
	}
}

func mustAppend(t *testing.T, l gaffer.LiveLog, jobID int64, recs []gaffer.Record) {
	t.Helper()
	if err := l.Append(context.Background(), jobID, recs); err != nil {
		t.Fatalf("Append(%d): %v", jobID, err)
	}
}

func mustClose(t *testing.T, l gaffer.LiveLog, jobID int64) {
	t.Helper()
	if err := l.Close(context.Background(), jobID); err != nil {
		t.Fatalf("Close(%d): %v", jobID, err)
	}
}

func mustRead(t *testing.T, l gaffer.LiveLog, jobID, after int64, limit int) []gaffer.Record {
	t.Helper()
	recs, _, err := l.Read(context.Background(), jobID, after, limit)
	if err != nil {
		t.Fatalf("Read(%d, after=%d): %v", jobID, after, err)
	}
	return recs
}

// assertSeqs checks that recs are exactly seqs first, first+1, …, first+n-1.
func assertSeqs(t *testing.T, recs []gaffer.Record, first int64, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("got %d records, want %d (from seq %d)", len(recs), n, first)
	}
	for i := range recs {
		if want := first + int64(i); recs[i].Seq != want {
			t.Fatalf("record %d has seq %d, want %d", i, recs[i].Seq, want)
		}
	}
}

func assertRecord(t *testing.T, got, want gaffer.Record) {
	t.Helper()
	if got.Seq != want.Seq || !got.TS.Equal(want.TS) || got.Host != want.Host ||
		got.Stream != want.Stream || !bytes.Equal(got.Data, want.Data) || got.NL != want.NL ||
		got.File != want.File || got.Alert != want.Alert {
		t.Fatalf("record %d:\n got %+v\nwant %+v", want.Seq, got, want)
	}
}
