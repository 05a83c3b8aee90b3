package archive

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// TestQueriesReadFewFrames checks, by counting the records decoded (a
// frame may hold many: this is the larger count), that a
// query near the end of a large log reads no more than one near its
// start, and a bounded number: also for a host whose records are rare,
// and for a followed file.
func TestQueriesReadFewFrames(t *testing.T) {
	n := int64(400_000)
	if s := os.Getenv("GAFFER_FRAMES_LINES"); s != "" { // e.g. 10000000, for figures
		var err error
		if n, err = strconv.ParseInt(s, 10, 64); err != nil || n < 100_000 {
			t.Fatalf("GAFFER_FRAMES_LINES=%q", s)
		}
	}
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := writeComplete(t, n, 1000, func(s int64) gaffer.Record {
		host, stream := "busy", gaffer.Stdout
		switch {
		case s%5000 == 17:
			host = "rare"
		case s%3 == 0:
			host, stream = "other", gaffer.Stderr
		case s%20_000 < 300 && s%2 == 0:
			host = "burst"
		}
		r := gaffer.Record{Seq: s, TS: t0.Add(time.Duration(s) * time.Millisecond), Host: host, Stream: stream, Data: fmt.Appendf(nil, "line %d", s)}
		if host == "busy" { // followed files: one busy, one rare
			r.File = "/var/log/app.log"
			if s%2000 == 1001 {
				r.File = "/var/log/rare.log"
			}
		}
		return r
	})

	frames := func(name string, q func() error) int64 {
		t.Helper()
		start := recordsRead.Load()
		if err := q(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return recordsRead.Load() - start
	}
	read := func(r gaffer.LogRange, want int) func() error {
		return func() error {
			recs, _, err := a.ReadRange(ctx, 1, r)
			if err == nil && len(recs) != want {
				err = fmt.Errorf("%d records, want %d", len(recs), want)
			}
			return err
		}
	}
	const limit = 20
	// Bound: a seek (IndexEvery), then per record returned MaxStreamGap records
	// per stream selected, plus the records themselves.
	bound := int64(3*IndexEvery + limit*(MaxStreamGap+1)*3)
	type query struct {
		name       string
		start, end func() error
	}
	rare := gaffer.LogFilter{Host: "rare"}
	burst := gaffer.LogFilter{Host: "burst"}
	rareFile := gaffer.LogFilter{File: "/var/log/rare.log"}
	queries := []query{
		{"forward", read(gaffer.LogRange{After: 1000, Limit: limit}, limit), read(gaffer.LogRange{After: n - 1000, Limit: limit}, limit)},
		{"backward", read(gaffer.LogRange{Before: 1000, Limit: limit}, limit), read(gaffer.LogRange{Before: gaffer.TailSeq, Limit: limit}, limit)},
		{"rare forward", read(gaffer.LogRange{Filter: rare, After: 1, Limit: 3}, 3), read(gaffer.LogRange{Filter: rare, After: n - 20_000, Limit: 3}, 3)},
		{"rare backward", read(gaffer.LogRange{Filter: rare, Before: 20_000, Limit: 3}, 3), read(gaffer.LogRange{Filter: rare, Before: gaffer.TailSeq, Limit: 3}, 3)},
		{"burst forward", read(gaffer.LogRange{Filter: burst, After: 1, Limit: limit}, limit), read(gaffer.LogRange{Filter: burst, After: n - 20_500, Limit: limit}, limit)},
		{"burst backward", read(gaffer.LogRange{Filter: burst, Before: 20_250, Limit: limit}, limit), read(gaffer.LogRange{Filter: burst, Before: gaffer.TailSeq, Limit: limit}, limit)},
		{"host forward", read(gaffer.LogRange{Filter: gaffer.LogFilter{Host: "other"}, After: 10, Limit: limit}, limit),
			read(gaffer.LogRange{Filter: gaffer.LogFilter{Host: "other"}, After: n - 1000, Limit: limit}, limit)},
		{"stream backward", read(gaffer.LogRange{Filter: gaffer.LogFilter{Stream: gaffer.Stderr}, Before: 2000, Limit: limit}, limit),
			read(gaffer.LogRange{Filter: gaffer.LogFilter{Stream: gaffer.Stderr}, Before: gaffer.TailSeq, Limit: limit}, limit)},
		{"file forward", read(gaffer.LogRange{Filter: rareFile, After: 1, Limit: 3}, 3), read(gaffer.LogRange{Filter: rareFile, After: n - 20_000, Limit: 3}, 3)},
		{"file backward", read(gaffer.LogRange{Filter: rareFile, Before: 20_000, Limit: 3}, 3), read(gaffer.LogRange{Filter: rareFile, Before: gaffer.TailSeq, Limit: 3}, 3)},
		{"host file back", read(gaffer.LogRange{Filter: gaffer.LogFilter{Host: "busy", File: "/var/log/app.log"}, Before: 2000, Limit: limit}, limit),
			read(gaffer.LogRange{Filter: gaffer.LogFilter{Host: "busy", File: "/var/log/app.log"}, Before: gaffer.TailSeq, Limit: limit}, limit)},
		{"seq at", func() error { _, err := a.SeqAt(ctx, 1, t0.Add(time.Second)); return err },
			func() error { _, err := a.SeqAt(ctx, 1, t0.Add(time.Duration(n-1000)*time.Millisecond)); return err }},
		{"summary", func() error { _, err := a.Summary(ctx, 1); return err }, func() error { _, err := a.Summary(ctx, 1); return err }},
	}
	for _, q := range queries {
		s, e := frames(q.name+" near the start", q.start), frames(q.name+" near the end", q.end)
		t.Logf("%-16s records read: %4d near the start, %4d near the end of %d", q.name, s, e, n)
		if e > bound || s > bound {
			t.Errorf("%s read %d records near the start and %d near the end; want at most %d", q.name, s, e, bound)
		}
	}
}

// TestManyHostsSmallIndex: a job on 1000 hosts whose lines mix evenly gets
// a stream index far smaller than its log (not an entry per record), and
// reading one host still reads a bounded number of frames.
func TestManyHostsSmallIndex(t *testing.T) {
	const n, hosts = 200_000, 1000
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := a.create(1)
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq <= n; seq += 1000 {
		batch := make([]gaffer.Record, 1000)
		for i := range batch {
			s := seq + int64(i)
			batch[i] = gaffer.Record{Seq: s, Host: fmt.Sprintf("h%d", (s*7919)%hosts), Stream: gaffer.Stdout, Data: fmt.Appendf(nil, "line %d", s)}
		}
		if err := w.Write(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Complete(); err != nil {
		t.Fatal(err)
	}
	lf, err := a.open(1)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.close()
	v, err := a.streamIndex(1, lf)
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, es := range v.ents {
		entries += len(es)
	}
	t.Logf("%d records on %d hosts: %d stream index entries (%d bytes of index for %d of log)", n, hosts, entries, fileSize(t, a.sdxPath(1)), lf.size)
	if entries > n/GapFactor {
		t.Errorf("%d entries for %d records", entries, n)
	}
	start := recordsRead.Load()
	recs, _, err := a.ReadRange(ctx, 1, gaffer.LogRange{Filter: gaffer.LogFilter{Host: "h7"}, Before: gaffer.TailSeq, Limit: 10})
	if err != nil || len(recs) != 10 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	read := recordsRead.Load() - start
	t.Logf("10 records of one host at the tail: %d records read", read)
	if read > 10*MaxStreamGap+StreamEvery*hosts {
		t.Errorf("read %d records", read)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestFollowDecodesEachFrameOnce: a reader going through a log a read at a
// time, each read ending inside a frame (1000 records of frames of 4096,
// as a viewer behind the live buffer reads), decodes each frame once, not
// once per read that touches it; and two readers interleaved, each at its
// own place, both get every record in order.
func TestFollowDecodesEachFrameOnce(t *testing.T) {
	const n, batch = 100_000, 4096
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	a := writeComplete(t, n, batch, func(s int64) gaffer.Record {
		return gaffer.Record{Seq: s, TS: t0, Host: "web-1", Stream: gaffer.Stdout, Data: strconv.AppendInt(nil, s, 10), NL: true}
	})
	type follower struct {
		after int64
		buf   gaffer.ReadBuffer
	}
	step := func(f *follower) {
		t.Helper()
		recs, _, err := a.ReadInto(ctx, 1, f.after, 1000, &f.buf)
		if err != nil || len(recs) == 0 {
			t.Fatalf("read after %d: %d records, %v", f.after, len(recs), err)
		}
		for _, r := range recs {
			if r.Seq != f.after+1 || string(r.Data) != strconv.FormatInt(r.Seq, 10) {
				t.Fatalf("read after %d: record %d %q, want %d", f.after, r.Seq, r.Data, f.after+1)
			}
			f.after = r.Seq
		}
	}

	start := recordsRead.Load()
	var one follower
	for one.after < n {
		step(&one)
	}
	if decoded := recordsRead.Load() - start; decoded > n+batch {
		t.Errorf("following %d records decoded %d: frames decoded again for each read", n, decoded)
	}

	x, y := &follower{}, &follower{after: n / 3}
	for x.after < n || y.after < n {
		for _, f := range []*follower{x, y} {
			if f.after < n {
				step(f)
			}
		}
	}
}
