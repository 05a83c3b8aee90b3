package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/livelogtest"
	"github.com/gaffer-dev/gaffer/redis"
)

func redisURL() string {
	if u := os.Getenv("GAFFER_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// newPrefix returns a key prefix no other test or run uses, and deletes
// its keys when the test ends.
func newPrefix(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	prefix := "gaffertest:" + hex.EncodeToString(b[:]) + ":"
	admin := adminClient(tb)
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := admin.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			admin.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// adminClient is a plain client for inspecting and breaking things.
func adminClient(tb testing.TB) *goredis.Client {
	tb.Helper()
	o, err := goredis.ParseURL(redisURL())
	if err != nil {
		tb.Fatalf("GAFFER_TEST_REDIS_URL: %v", err)
	}
	c := goredis.NewClient(o)
	tb.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("these tests need Redis at %s (set GAFFER_TEST_REDIS_URL): %v", redisURL(), err)
	}
	return c
}

// open returns a LiveLog on a fresh prefix unless opts has one.
func open(tb testing.TB, opts redis.Options) *redis.LiveLog {
	tb.Helper()
	if opts.Prefix == "" {
		opts.Prefix = newPrefix(tb)
	}
	l, err := redis.New(context.Background(), redisURL(), opts)
	if err != nil {
		tb.Fatalf("these tests need Redis (set GAFFER_TEST_REDIS_URL): %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Shutdown(); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return l
}

func TestLiveLog(t *testing.T) {
	livelogtest.Run(t, func(t *testing.T) gaffer.LiveLog { return open(t, redis.Options{}) })
}

func TestLiveLogSmallBlockTime(t *testing.T) {
	// Readers re-check often and stop soon after their waiters leave.
	livelogtest.Run(t, func(t *testing.T) gaffer.LiveLog {
		return open(t, redis.Options{BlockTime: 5 * time.Millisecond, MaxBytesPerJob: 256 << 10})
	})
}

func TestNewUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := redis.New(ctx, "redis://127.0.0.1:1/0", redis.Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis at 127.0.0.1:1:") {
		t.Fatalf("New with no Redis: %v, want \"cannot reach Redis at 127.0.0.1:1: ...\"", err)
	}
	if _, err := redis.New(ctx, "http://nowhere", redis.Options{}); err == nil {
		t.Fatal("New with an http URL succeeded")
	}
}

func rec(seq int64, data []byte) gaffer.Record {
	return gaffer.Record{Seq: seq, TS: time.Unix(1700000000, seq), Host: "web-1", Stream: gaffer.Stdout, Data: data, NL: true}
}

func batch(first int64, n int, data []byte) []gaffer.Record {
	out := make([]gaffer.Record, n)
	for i := range out {
		out[i] = rec(first+int64(i), data)
	}
	return out
}

func lineBatch(first int64, n int) []gaffer.Record {
	out := make([]gaffer.Record, n)
	for i := range out {
		out[i] = rec(first+int64(i), []byte(fmt.Sprintf("line %d", first+int64(i))))
	}
	return out
}

func TestBatching(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix(t)
	l := open(t, redis.Options{Prefix: prefix})
	admin := adminClient(t)
	const n = 100_000
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, 1, lineBatch(1, n)); err != nil {
		t.Fatal(err)
	}
	entries := admin.XLen(ctx, prefix+"job:1:log").Val()
	t.Logf("%d records in %d stream entries", n, entries)
	if entries == 0 || entries > n/200 {
		t.Fatalf("%d entries for %d records: want batching (at most %d)", entries, n, n/200)
	}

	// Read it all back in pages out of step with the entries.
	var after int64
	for after < n {
		got, _, err := l.Read(ctx, 1, after, 777)
		if err != nil {
			t.Fatalf("Read(after=%d): %v", after, err)
		}
		for _, r := range got {
			if r.Seq != after+1 || string(r.Data) != fmt.Sprintf("line %d", r.Seq) {
				t.Fatalf("after %d: got seq %d %q", after, r.Seq, r.Data)
			}
			after++
		}
	}
}

func TestTrimBound(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix(t)
	const maxBytes = 1 << 20
	l := open(t, redis.Options{Prefix: prefix, MaxBytesPerJob: maxBytes})
	admin := adminClient(t)
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("z"), 200)
	var seq int64 = 1
	var maxHeld, maxMem int64
	for i := 0; i < 400; i++ { // 40k records, about 8 MiB: 8 times the bound
		if err := l.Append(ctx, 1, batch(seq, 100, data)); err != nil {
			t.Fatal(err)
		}
		seq += 100
		if i%20 == 19 {
			held := heldBytes(t, admin, prefix+"job:1:log")
			maxHeld = max(maxHeld, held)
			maxMem = max(maxMem, admin.MemoryUsage(ctx, prefix+"job:1:log").Val())
		}
	}
	t.Logf("bound %d: held at most %d bytes of entries, stream at most %d bytes of Redis memory", maxBytes, maxHeld, maxMem)
	if maxHeld > maxBytes {
		t.Errorf("held %d bytes, bound %d", maxHeld, maxBytes)
	}
	if maxMem > 2*maxBytes {
		t.Errorf("stream used %d bytes of memory, bound %d", maxMem, maxBytes)
	}

	// Trimmed records are ETRIMMED; the kept ones read back exactly.
	if _, _, err := l.Read(ctx, 1, 0, 10); gaffer.ErrorCode(err) != gaffer.ETRIMMED {
		t.Fatalf("Read(after=0) after trimming: %v, want ETRIMMED", err)
	}
	first, _ := admin.HGet(ctx, prefix+"job:1:meta", "first").Int64()
	if _, _, err := l.Read(ctx, 1, first-2, 10); gaffer.ErrorCode(err) != gaffer.ETRIMMED {
		t.Fatalf("Read(after=%d), first kept %d: %v, want ETRIMMED", first-2, first, err)
	}
	got, _, err := l.Read(ctx, 1, first-1, 10)
	if err != nil || len(got) != 10 || got[0].Seq != first || !bytes.Equal(got[0].Data, data) {
		t.Fatalf("Read(after=%d) = %d records, %v; want 10 from seq %d", first-1, len(got), err, first)
	}
}

// heldBytes sums the sizes of a stream's entries.
func heldBytes(t *testing.T, admin *goredis.Client, key string) int64 {
	msgs, err := admin.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range msgs {
		s, _ := m.Values["r"].(string)
		n += int64(len(s))
	}
	return n
}

func TestTrimEntries(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix(t)
	l := open(t, redis.Options{Prefix: prefix, MaxEntriesPerJob: 250})
	admin := adminClient(t)
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq <= 1000; seq++ { // a job printing a line at a time
		if err := l.Append(ctx, 1, lineBatch(seq, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := admin.XLen(ctx, prefix+"job:1:log").Val(); n != 250 {
		t.Fatalf("%d entries, bound 250", n)
	}
	if n := admin.LLen(ctx, prefix+"job:1:idx").Val(); n != 250 {
		t.Fatalf("%d index items, want 250", n)
	}
	got, _, err := l.Read(ctx, 1, 750, 1000)
	if err != nil || len(got) != 250 || got[0].Seq != 751 {
		t.Fatalf("Read(after=750) = %d records, %v; want 250 from 751", len(got), err)
	}
	if _, _, err := l.Read(ctx, 1, 749, 1000); gaffer.ErrorCode(err) != gaffer.ETRIMMED {
		t.Fatalf("Read(after=749): %v, want ETRIMMED", err)
	}
}

func TestTTL(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix(t)
	l := open(t, redis.Options{Prefix: prefix, TTL: time.Hour})
	admin := adminClient(t)
	check := func(when string, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if ttl := admin.PTTL(ctx, prefix+k).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
				t.Errorf("%s: TTL of %s is %v, want about 1h", when, k, ttl)
			}
		}
	}
	if err := l.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	check("after Create", "job:1:meta")
	if err := l.Append(ctx, 1, lineBatch(1, 10)); err != nil {
		t.Fatal(err)
	}
	check("after Append", "job:1:meta", "job:1:log", "job:1:idx")
	if err := l.Close(ctx, 1); err != nil {
		t.Fatal(err)
	}
	check("after Close", "job:1:meta", "job:1:log", "job:1:idx")

	// Keys vanish if nobody deletes them; the job is then unknown.
	short := open(t, redis.Options{Prefix: prefix, TTL: 200 * time.Millisecond})
	if err := short.Create(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := short.Append(ctx, 2, lineBatch(1, 10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := admin.Exists(ctx, prefix+"job:2:meta", prefix+"job:2:log", prefix+"job:2:idx").Val(); n != 0 {
		t.Fatalf("%d keys left after the TTL", n)
	}
	if _, _, err := short.Read(ctx, 2, 0, 10); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Read after expiry: %v, want ENOTFOUND", err)
	}
}

// watchConns counts the connections named name in CLIENT LIST.
func watchConns(t *testing.T, admin *goredis.Client, name string) int {
	t.Helper()
	list, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") {
			n++
		}
	}
	return n
}

func TestOneReaderPerJob(t *testing.T) {
	ctx := context.Background()
	l := open(t, redis.Options{})
	admin := adminClient(t)
	for _, id := range []int64{1, 2} {
		if err := l.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	const viewers = 200
	errc := make(chan error, viewers+20)
	for i := 0; i < viewers; i++ {
		go func() { errc <- l.Wait(ctx, 1, 0) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for watchConns(t, admin, l.ClientName()+"-watch") < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let every Wait settle
	if n := watchConns(t, admin, l.ClientName()+"-watch"); n != 1 {
		t.Fatalf("%d blocking connections for %d viewers of one job, want 1", n, viewers)
	}
	if n := watchConns(t, admin, l.ClientName()); n > 1 {
		t.Errorf("%d command connections used by waiting viewers, want at most 1 (from Create)", n)
	}

	// A second watched job takes one more connection.
	for i := 0; i < 20; i++ {
		go func() { errc <- l.Wait(ctx, 2, 0) }()
	}
	time.Sleep(200 * time.Millisecond)
	if n := watchConns(t, admin, l.ClientName()+"-watch"); n != 2 {
		t.Fatalf("%d blocking connections for two watched jobs, want 2", n)
	}

	if err := l.Append(ctx, 1, lineBatch(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < viewers+20; i++ {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d waiters not woken", viewers+20-i, viewers+20)
		}
	}
}

func TestWaitCancelPrompt(t *testing.T) {
	l := open(t, redis.Options{BlockTime: 5 * time.Second})
	if err := l.Create(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, 300 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Wait(ctx, 1, 0) }()
		time.Sleep(d) // 0: cancelled while the reader starts; 300ms: while it blocks
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait: %v, want context.Canceled", err)
			}
			if took := time.Since(start); took > 200*time.Millisecond {
				t.Fatalf("Wait took %v to return after cancel", took)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Wait did not return on cancel (waiting for XREAD BLOCK 5s?)")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, 1, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a deadline: %v", err)
	}
}

// TestOtherInstance checks that waiters on one server wake for appends,
// Close and Delete done by another.
func TestOtherInstance(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix(t)
	writer := open(t, redis.Options{Prefix: prefix})
	viewer := open(t, redis.Options{Prefix: prefix, BlockTime: 5 * time.Second})
	if err := writer.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	wake := func(what string, after int64, do func(), within time.Duration) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- viewer.Wait(ctx, 1, after) }()
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		do()
		select {
		case err := <-done:
			t.Logf("%s woke a viewer on another instance in %v", what, time.Since(start))
			return err
		case <-time.After(within):
			t.Fatalf("%s did not wake a viewer on another instance within %v", what, within)
			return nil
		}
	}
	if err := wake("Append", 0, func() { writer.Append(ctx, 1, lineBatch(1, 5)) }, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _, err := viewer.Read(ctx, 1, 0, 100); err != nil || len(got) != 5 {
		t.Fatalf("Read on the other instance: %d records, %v", len(got), err)
	}
	// The end marker wakes readers at once, not after BlockTime.
	if err := wake("Close", 5, func() { writer.Close(ctx, 1) }, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, end, err := viewer.Read(ctx, 1, 5, 100); err != nil || !end {
		t.Fatalf("Read after Close on the other instance: end %v, %v", end, err)
	}

	// Nothing is written on Delete: other instances see it within BlockTime.
	if err := writer.Create(ctx, 2); err != nil {
		t.Fatal(err)
	}
	viewer2 := open(t, redis.Options{Prefix: prefix, BlockTime: 200 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- viewer2.Wait(ctx, 2, 0) }()
	time.Sleep(100 * time.Millisecond)
	if err := writer.Delete(ctx, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
			t.Fatalf("Wait on a job deleted elsewhere: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Delete on another instance did not wake the viewer")
	}
}

// TestDataLost plays Redis losing a running job (FLUSHDB, a restart without
// persistence, expiry): the test deletes the job's keys, as FLUSHDB would,
// without touching other tests' keys.
func TestDataLost(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix(t)
	writer := open(t, redis.Options{Prefix: prefix})
	other := open(t, redis.Options{Prefix: prefix, BlockTime: 100 * time.Millisecond})
	admin := adminClient(t)
	flush := func() {
		if err := admin.Del(ctx, prefix+"job:1:meta", prefix+"job:1:log", prefix+"job:1:idx").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := writer.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := writer.Append(ctx, 1, lineBatch(1, 10)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- other.Wait(ctx, 1, 10) }()
	time.Sleep(50 * time.Millisecond)

	flush()
	// Readers are told the live log is gone, and read the archive.
	if _, _, err := other.Read(ctx, 1, 0, 10); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Read after the data was lost: %v, want ENOTFOUND", err)
	}
	select {
	case err := <-done:
		if err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
			t.Fatalf("Wait when the data was lost: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return when the data was lost")
	}
	// Appending from another instance (not the job's writer) fails clearly.
	err := other.Append(ctx, 1, lineBatch(11, 1))
	if gaffer.ErrorCode(err) != gaffer.ENOTFOUND || !strings.Contains(err.Error(), "no live log for job 1 in Redis") {
		t.Fatalf("Append by a non-writer after the loss: %v", err)
	}

	// The writer knows its job still runs: it starts the live log again
	// from its next batch. Older records are ETRIMMED (the archive has them).
	if err := writer.Append(ctx, 1, lineBatch(11, 5)); err != nil {
		t.Fatalf("writer's Append after the loss: %v", err)
	}
	if _, _, err := other.Read(ctx, 1, 0, 10); gaffer.ErrorCode(err) != gaffer.ETRIMMED {
		t.Fatalf("Read(after=0) after recovery: %v, want ETRIMMED", err)
	}
	if got, _, err := other.Read(ctx, 1, 10, 10); err != nil || len(got) != 5 || got[0].Seq != 11 {
		t.Fatalf("Read(after=10) after recovery: %d records, %v", len(got), err)
	}

	// Redis restarted from an older snapshot: meta is behind the writer.
	if err := writer.Append(ctx, 1, lineBatch(16, 5)); err != nil {
		t.Fatal(err)
	}
	admin.HSet(ctx, prefix+"job:1:meta", "last", "15")
	if err := writer.Append(ctx, 1, lineBatch(21, 5)); err != nil {
		t.Fatalf("writer's Append after a stale restore: %v", err)
	}
	// Another instance learns of appends through its tail's XREAD: its
	// viewers wait before they read, as the server's do.
	waitOther := func(after int64) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := other.Wait(wctx, 1, after); err != nil {
			t.Fatalf("Wait(after=%d) on the other instance: %v", after, err)
		}
	}
	waitOther(20)
	if got, _, err := other.Read(ctx, 1, 20, 10); err != nil || len(got) != 5 || got[0].Seq != 21 {
		t.Fatalf("Read(after=20) after a stale restore: %d records, %v", len(got), err)
	}

	// Lost again just before Close: readers still see the end.
	flush()
	if err := writer.Close(ctx, 1); err != nil {
		t.Fatalf("Close after the loss: %v", err)
	}
	waitOther(25)
	if _, end, err := other.Read(ctx, 1, 25, 10); err != nil || !end {
		t.Fatalf("Read(after=25) after Close: end %v, %v", end, err)
	}
	// Redis lost 21-25 again; the other instance's tail may still hold
	// them (the same records as the archive), or it sends the reader there.
	if got, _, err := other.Read(ctx, 1, 20, 10); gaffer.ErrorCode(err) != gaffer.ETRIMMED && (err != nil || len(got) != 5 || got[0].Seq != 21) {
		t.Fatalf("Read(after=20) after Close: %d records, %v; want 21-25 or ETRIMMED", len(got), err)
	}
	if err := writer.Append(ctx, 1, lineBatch(26, 1)); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Fatalf("Append after Close: %v, want EINVALID", err)
	}

	// A deleted job is never brought back by its writer.
	if err := writer.Create(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := writer.Delete(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := writer.Append(ctx, 2, lineBatch(1, 1)); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Append after Delete: %v, want ENOTFOUND", err)
	}
}

func TestCreateConflict(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix(t)
	a := open(t, redis.Options{Prefix: prefix})
	b := open(t, redis.Options{Prefix: prefix})
	if err := a.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, 1); gaffer.ErrorCode(err) != gaffer.ECONFLICT {
		t.Fatalf("second Create: %v, want ECONFLICT", err)
	}
}

func TestShutdownWakesWaiters(t *testing.T) {
	l, err := redis.New(context.Background(), redisURL(), redis.Options{Prefix: newPrefix(t), BlockTime: 5 * time.Second})
	if err != nil {
		t.Fatalf("these tests need Redis (set GAFFER_TEST_REDIS_URL): %v", err)
	}
	if err := l.Create(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Wait(context.Background(), 1, 0); err == nil {
				t.Error("Wait returned nil on Shutdown")
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := l.Shutdown(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Shutdown took %v", took)
	}
}

// BenchmarkAppend appends 2M small records in batches of 1000, as one busy
// job's writer would.
func BenchmarkAppend(b *testing.B) {
	const n, size = 2_000_000, 1000
	ctx := context.Background()
	l := open(b, redis.Options{})
	data := bytes.Repeat([]byte("x"), 70)
	batches := make([][]gaffer.Record, n/size)
	for i := range batches {
		batches[i] = batch(int64(i*size+1), size, data)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := int64(i + 1)
		if err := l.Create(ctx, id); err != nil {
			b.Fatal(err)
		}
		for _, recs := range batches {
			if err := l.Append(ctx, id, recs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		l.Delete(ctx, id)
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
