package archive_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

var ctx = context.Background()

func TestRoundTrip(t *testing.T) {
	a, _ := newArchive(t)
	ts := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	want := []gaffer.Record{
		{Seq: 1, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("hello"), NL: true},
		{Seq: 2, TS: ts, Host: "web-1", Stream: gaffer.Stderr, Data: []byte("nul\x00inside\x00"), NL: true},
		{Seq: 3, TS: ts, Host: "web-2", Stream: gaffer.Stdout, Data: []byte("bad utf-8 \xff\xfe\xc3("), NL: false},
		{Seq: 4, TS: ts, Host: "web-2", Stream: gaffer.Stdout, Data: []byte("10%\r20%\r"), NL: true},
		{Seq: 5, TS: ts, Host: "web-2", Stream: gaffer.Stdout, Data: []byte("\r"), NL: false},
		{Seq: 6, TS: ts, Host: "", Stream: gaffer.System, Data: []byte{}, NL: true},
		{Seq: 7, TS: time.Time{}, Host: "h", Stream: gaffer.Stdout, Data: nil, NL: false},
		{Seq: 8, TS: ts, Host: string(bytes.Repeat([]byte("h"), 1000)), Stream: "custom", Data: []byte("x"), NL: true},
		{Seq: 9, TS: ts, Host: "web-1", Stream: gaffer.Stdout, File: "/var/log/a b.log", Data: []byte("followed"), NL: true},
		{Seq: 10, TS: ts, Host: "web-1", Stream: gaffer.Stdout, File: "/var/log/a b.log", Data: []byte("ERROR x"), NL: true, Alert: true},
		{Seq: 11, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("no file again"), NL: true, Alert: true},
	}
	writeLog(t, a, 1, want, true)

	got, end, err := a.Read(ctx, 1, 0, 100)
	if err != nil {
		t.Fatal(err)
	} else if !end {
		t.Fatal("end = false on a complete log read to its end")
	}
	assertRecords(t, got, want)
}

// TestBigRecord frames a 10 MB line (with NULs, "\r" and invalid UTF-8) into
// 64 KiB records and reads it back through Read and Raw.
func TestBigRecord(t *testing.T) {
	a, _ := newArchive(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	input := make([]byte, 10<<20)
	for i := range input {
		input[i] = byte(rnd.IntN(256))
		if input[i] == '\n' {
			input[i] = '\r'
		}
	}
	input = append(input, "\nshort line\n"...)
	c := newCollector()
	f := gaffer.NewFramer("big", gaffer.Stdout, 0, time.Hour, c.emit)
	for p := input; len(p) > 0; {
		n := min(len(p), 1+rnd.IntN(300_000))
		f.Write(p[:n])
		p = p[n:]
	}
	f.Close()
	if len(c.recs) < 160 {
		t.Fatalf("framed into %d records, want 64 KiB ones", len(c.recs))
	}
	writeLog(t, a, 1, c.recs, true)

	got := readAll(t, a, 1, 0)
	var buf bytes.Buffer
	gaffer.Rebuild(&buf, got)
	if !bytes.Equal(buf.Bytes(), input) {
		t.Fatalf("rebuilt %d bytes differ from the %d written", buf.Len(), len(input))
	}
	buf.Reset()
	if err := a.Raw(ctx, 1, "big", gaffer.Stdout, &buf); err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(buf.Bytes(), input) {
		t.Fatalf("raw %d bytes differ from the %d written", buf.Len(), len(input))
	}
}

// TestReadRanges reads random ranges of a 1,000,000-record log.
func TestReadRanges(t *testing.T) {
	const n = 1_000_000
	a, _ := newArchive(t)
	writeNumbered(t, a, 1, n, true)

	rnd := rand.New(rand.NewPCG(3, 4))
	type span struct {
		after int64
		limit int
	}
	spans := []span{{-1, 10}, {0, 1}, {0, 1000}, {254, 3}, {255, 3}, {256, 3}, {257, 3},
		{511, 1}, {512, 600}, {900_000, 100}, {n - 300, 1000}, {n - 1, 5}, {n, 5}, {n + 100, 5}, {0, 0}}
	for range 300 {
		spans = append(spans, span{rnd.Int64N(n + 10), 1 + rnd.IntN(2000)})
	}
	for _, s := range spans {
		got, end, err := a.Read(ctx, 1, s.after, s.limit)
		if err != nil {
			t.Fatalf("Read(after=%d, limit=%d): %v", s.after, s.limit, err)
		}
		limit := s.limit
		if limit <= 0 {
			limit = archive.DefaultReadLimit
		}
		first := max(s.after+1, 1)
		want := int(max(0, min(int64(limit), n-first+1)))
		size := 0
		for i := range got {
			size += got[i].Size()
		}
		if len(got) > 0 && len(got) < want && size >= gaffer.MaxReadBytes {
			want = len(got) // the byte bound cut it short
		}
		assertNumbered(t, got, first, want)
		if wantEnd := first+int64(want) > n; end != wantEnd {
			t.Fatalf("Read(after=%d, limit=%d) end = %v, want %v", s.after, s.limit, end, wantEnd)
		}
	}
}

// TestReadInto follows a log a batch at a time, passing the same buffer to
// each read: the records are Read's, in the buffer's slice once it has
// room, their data in its memory once that has room.
func TestReadInto(t *testing.T) {
	const n = 100_000
	a, _ := newArchive(t)
	writeNumbered(t, a, 1, n, true)
	var buf gaffer.ReadBuffer
	buf.Recs = make([]gaffer.Record, 3, 5000)
	for i := range buf.Recs {
		buf.Recs[i] = gaffer.Record{Seq: -1, Host: "junk", Data: []byte("junk")}
	}
	buf.Recs = buf.Recs[:0]
	reused, dataReused := 0, 0
	for after, limit := int64(0), 1; after < n; limit = limit*3%1999 + 1 {
		want, wantEnd, err := a.Read(ctx, 1, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		recs0, data0 := buf.Recs[:1], buf.Data[:min(1, cap(buf.Data))]
		got, end, err := a.ReadInto(ctx, 1, after, limit, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if end != wantEnd || !reflect.DeepEqual(got, want) {
			t.Fatalf("ReadInto(after=%d, limit=%d) = %d records, end %v; Read gave %d, end %v", after, limit, len(got), end, len(want), wantEnd)
		}
		if &got[:1][0] == &recs0[0] {
			reused++
		}
		if len(got[0].Data) > 0 && len(data0) > 0 && &got[0].Data[0] == &data0[0] {
			dataReused++
		}
		if &got[:1][0] != &buf.Recs[:1][0] {
			t.Fatal("the records read are not the buffer's")
		}
		after = got[len(got)-1].Seq
	}
	if reused == 0 {
		t.Error("no read filled the slice passed")
	}
	if dataReused == 0 {
		t.Error("no read copied its data into the buffer's memory")
	}
}

// TestSparseSeqs checks reads on a log whose seqs increase with gaps: the
// index must not assume seqs are consecutive.
func TestSparseSeqs(t *testing.T) {
	const n = 5000
	a, _ := newArchive(t)
	recs := make([]gaffer.Record, n)
	for i := range recs {
		recs[i] = numbered(int64(i+1) * 10)
	}
	writeLog(t, a, 1, recs, true)
	for _, after := range []int64{0, 5, 10, 2559, 2560, 2561, 2565, 25_600, 49_990, 49_995, 50_000} {
		got, _, err := a.Read(ctx, 1, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		first := (after/10 + 1) * 10
		for i := range got {
			if want := first + int64(i)*10; got[i].Seq != want {
				t.Fatalf("Read(after=%d): record %d has seq %d, want %d", after, i, got[i].Seq, want)
			}
		}
		if want := int(min(7, max(0, (n*10-first)/10+1))); len(got) != want {
			t.Fatalf("Read(after=%d) = %d records, want %d", after, len(got), want)
		}
	}
}

// TestReadLimitBytes checks that one Read returns no more than about
// gaffer.MaxReadBytes (records counted by Size, so short lines too), at
// least one record, and that paging still reaches every record.
func TestReadLimitBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		line int
	}{
		{"full records", 200, gaffer.MaxRecord},
		{"8 KiB lines", 2000, 8 << 10},
		{"short lines", 5000, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newArchive(t)
			recs := make([]gaffer.Record, tc.n)
			for i := range recs {
				recs[i] = numbered(int64(i + 1))
				recs[i].Data = bytes.Repeat([]byte{byte(i)}, tc.line)
			}
			writeLog(t, a, 1, recs, true)

			var after int64
			for after < int64(tc.n) {
				got, end, err := a.Read(ctx, 1, after, 1000)
				if err != nil {
					t.Fatal(err)
				}
				size := 0
				for i := range got {
					size += got[i].Size()
				}
				if len(got) == 0 || size > gaffer.MaxReadBytes+recs[0].Size() {
					t.Fatalf("Read(after=%d) = %d records, %d bytes; want 1 or more, at most %d bytes", after, len(got), size, gaffer.MaxReadBytes+recs[0].Size())
				}
				assertRecords(t, got, recs[after:after+int64(len(got))])
				after += int64(len(got))
				if end != (after == int64(tc.n)) {
					t.Fatalf("end = %v after %d records", end, after)
				}
			}
		})
	}
}

// TestReadWhileWriting follows a writer with readers in other goroutines:
// records are readable as soon as Write returns, whole and in order, and
// the end shows only once the log is complete.
func TestReadWhileWriting(t *testing.T) {
	const n = 50_000
	a, _ := newArchive(t)
	w, err := a.Create(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu        sync.Mutex
		written   int64 // seq of the last record Write returned for
		completed bool
	)
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rnd := rand.New(rand.NewPCG(5, 6))
		for seq := int64(1); seq <= n; {
			batch := make([]gaffer.Record, min(1+rnd.IntN(500), n-int(seq)+1))
			for i := range batch {
				batch[i] = numbered(seq + int64(i))
			}
			if err := w.Write(batch); err != nil {
				errc <- err
				return
			}
			seq += int64(len(batch))
			mu.Lock()
			written = seq - 1
			mu.Unlock()
		}
		err := w.Complete()
		mu.Lock()
		completed = true
		mu.Unlock()
		errc <- err
	}()

	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var after int64
			for {
				mu.Lock()
				before, done := written, completed
				mu.Unlock()
				limit := 100 + r*211
				got, end, err := a.Read(ctx, 1, after, limit)
				if err != nil {
					errc <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				for i := range got {
					if want := after + 1; got[i].Seq != want || string(got[i].Data) != line(want) {
						errc <- fmt.Errorf("reader %d: got seq %d %q, want %d", r, got[i].Seq, got[i].Data, want)
						return
					}
					after++
				}
				// A Read short of its limit saw everything written before
				// it, and the end if the log was complete by then.
				if len(got) < limit && after < before {
					errc <- fmt.Errorf("reader %d: read up to %d, but %d were written", r, after, before)
					return
				} else if len(got) < limit && done && !end {
					errc <- fmt.Errorf("reader %d: no end after Complete", r)
					return
				}
				if end {
					if after != n {
						errc <- fmt.Errorf("reader %d: end after %d of %d records", r, after, n)
					}
					return
				} else if len(got) == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestTornTail damages the end of a partial log as a crash would: reads stop
// at the last whole record.
func TestTornTail(t *testing.T) {
	const n = 100
	last := numbered(n)
	lastFrame := int64(8 + 20 + len(last.Stream) + len(last.Host) + len(last.Data))
	tests := []struct {
		name   string
		damage func(t *testing.T, logPath string, size int64)
		want   int
	}{
		{"cut in the data", func(t *testing.T, p string, size int64) { truncate(t, p, size-1) }, n - 1},
		{"cut in the header", func(t *testing.T, p string, size int64) { truncate(t, p, size-lastFrame+3) }, n - 1},
		{"cut after the header", func(t *testing.T, p string, size int64) { truncate(t, p, size-lastFrame+8) }, n - 1},
		{"cut in the body header", func(t *testing.T, p string, size int64) { truncate(t, p, size-lastFrame+13) }, n - 1},
		{"flipped bit", func(t *testing.T, p string, size int64) { flip(t, p, size-2) }, n - 1},
		{"zeros appended", func(t *testing.T, p string, size int64) { appendFile(t, p, make([]byte, 4096)) }, n},
		{"garbage appended", func(t *testing.T, p string, size int64) { appendFile(t, p, []byte{255, 255, 255, 255, 1, 2}) }, n},
		{"magic only", func(t *testing.T, p string, size int64) { truncate(t, p, 8) }, 0},
		{"empty", func(t *testing.T, p string, size int64) { truncate(t, p, 0) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, dir := newArchive(t)
			writeNumbered(t, a, 7, n, false)
			logPath := filepath.Join(dir, "7.log.partial")
			fi, err := os.Stat(logPath)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, logPath, fi.Size())
			// A torn index entry too: the index is only an accelerator.
			appendFile(t, filepath.Join(dir, "7.idx.partial"), []byte{1, 2, 3, 4, 5, 6, 7})

			for _, after := range []int64{0, n / 2, n - 2, n - 1, n} {
				got, end, err := a.Read(ctx, 7, after, 1000)
				if err != nil {
					t.Fatal(err)
				} else if end {
					t.Fatal("end = true on a partial log")
				}
				assertNumbered(t, got, after+1, max(0, tt.want-int(after)))
			}
		})
	}
}

// TestComplete checks that a log is complete only after Complete, when its
// final files appear all at once.
func TestComplete(t *testing.T) {
	a, dir := newArchive(t)
	w, err := a.Create(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := a.Create(ctx, 3); gaffer.ErrorCode(err) != gaffer.ECONFLICT {
		t.Fatalf("second Create: %v, want ECONFLICT", err)
	}
	assertFiles(t, dir, "3.idx.partial", "3.log.partial", "3.sdx.partial")
	if got, end, err := a.Read(ctx, 3, 0, 10); err != nil || len(got) != 0 || end {
		t.Fatalf("Read new log = %d records, end %v, %v; want 0, false", len(got), end, err)
	}

	if err := w.Write(numberedRange(1, 600)); err != nil {
		t.Fatal(err)
	} else if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	got, end, err := a.Read(ctx, 3, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	assertNumbered(t, got, 1, 600)
	if end {
		t.Fatal("end = true before Complete")
	}

	if err := w.Complete(); err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dir, "3.idx", "3.log", "3.sdx")
	tests := []struct {
		after   int64
		limit   int
		n       int
		wantEnd bool
	}{
		{0, 1000, 600, true},
		{0, 600, 600, true},
		{0, 599, 599, false},
		{590, 5, 5, false},
		{595, 5, 5, true},
		{600, 5, 0, true},
	}
	for _, tt := range tests {
		got, end, err := a.Read(ctx, 3, tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		assertNumbered(t, got, tt.after+1, tt.n)
		if end != tt.wantEnd {
			t.Errorf("Read(after=%d, limit=%d) end = %v, want %v", tt.after, tt.limit, end, tt.wantEnd)
		}
	}

	if err := w.Write(numberedRange(601, 1)); err == nil {
		t.Fatal("Write after Complete succeeded")
	}
	if _, err := a.Create(ctx, 3); gaffer.ErrorCode(err) != gaffer.ECONFLICT {
		t.Fatalf("Create of a complete log: %v, want ECONFLICT", err)
	}
}

// TestCrashBetweenRenames: Complete renamed the index but not the data file.
// The log is partial, and still reads through its (final) index.
func TestCrashBetweenRenames(t *testing.T) {
	a, dir := newArchive(t)
	writeNumbered(t, a, 4, 2000, false)
	if err := os.Rename(filepath.Join(dir, "4.idx.partial"), filepath.Join(dir, "4.idx")); err != nil {
		t.Fatal(err)
	}
	got, end, err := a.Read(ctx, 4, 1500, 1000)
	if err != nil {
		t.Fatal(err)
	}
	assertNumbered(t, got, 1501, 500)
	if end {
		t.Fatal("end = true on a partial log")
	}
}

// TestSeal completes logs left partial by a crash.
func TestSeal(t *testing.T) {
	const n = 1000
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   int
	}{
		{"whole", func(t *testing.T, dir string) {}, n},
		{"torn tail", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "6.log.partial")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			truncate(t, p, fi.Size()-3)
		}, n - 1},
		{"no index", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "6.idx.partial")); err != nil {
				t.Fatal(err)
			}
		}, n},
		{"index renamed", func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "6.idx.partial"), filepath.Join(dir, "6.idx")); err != nil {
				t.Fatal(err)
			}
		}, n},
		{"torn magic", func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, "6.log.partial"), 5) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, dir := newArchive(t)
			writeNumbered(t, a, 6, n, false)
			tt.damage(t, dir)
			if err := a.Seal(ctx, 6); err != nil {
				t.Fatal(err)
			}
			assertFiles(t, dir, "6.idx", "6.log", "6.sdx")
			for _, after := range []int64{0, 255, 256, 700, n - 2, n - 1, n} {
				got := readAll(t, a, 6, after) // to the end: a sealed log has one
				assertNumbered(t, got, after+1, max(0, tt.want-int(after)))
			}
			if err := a.Seal(ctx, 6); err != nil {
				t.Fatalf("Seal of a complete log: %v", err)
			}
		})
	}

	a, _ := newArchive(t)
	if err := a.Seal(ctx, 404); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Seal of no log: %v, want ENOTFOUND", err)
	}
}

// TestNoIndex checks that reads stay correct when the index is missing.
func TestNoIndex(t *testing.T) {
	a, dir := newArchive(t)
	writeNumbered(t, a, 5, 3000, true)
	if err := os.Remove(filepath.Join(dir, "5.idx")); err != nil {
		t.Fatal(err)
	}
	got, end, err := a.Read(ctx, 5, 2990, 100)
	if err != nil {
		t.Fatal(err)
	}
	assertNumbered(t, got, 2991, 10)
	if !end {
		t.Fatal("end = false at the end of a complete log")
	}
}

// TestRaw interleaves output of several hosts and streams, framed from
// random chunks, and checks Raw returns each stream's exact bytes.
func TestRaw(t *testing.T) {
	a, _ := newArchive(t)
	rnd := rand.New(rand.NewPCG(7, 8))
	alphabet := []byte("ab \x00\r\n\xff\xfe\xc3é")
	type key struct {
		host   string
		stream gaffer.Stream
	}
	c := newCollector()
	inputs := map[key]*bytes.Buffer{}
	framers := map[key]*gaffer.Framer{}
	var keys []key
	for _, host := range []string{"web-1", "web-2", "db"} {
		for _, stream := range []gaffer.Stream{gaffer.Stdout, gaffer.Stderr, gaffer.System} {
			k := key{host, stream}
			keys = append(keys, k)
			inputs[k] = &bytes.Buffer{}
			framers[k] = gaffer.NewFramer(host, stream, 100, time.Hour, c.emit)
		}
	}
	for range 5000 {
		k := keys[rnd.IntN(len(keys))]
		chunk := make([]byte, rnd.IntN(300))
		for i := range chunk {
			chunk[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		inputs[k].Write(chunk)
		framers[k].Write(chunk)
	}
	for _, k := range keys {
		framers[k].Close()
	}
	// Half the log is written while the rest is not: Raw reads partial logs.
	half := len(c.recs) / 2
	w, err := a.Create(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(c.recs[:half]); err != nil {
		t.Fatal(err)
	}
	k := keys[0]
	var buf, want bytes.Buffer
	gaffer.Rebuild(&want, filter(c.recs[:half], k.host, k.stream))
	if err := a.Raw(ctx, 9, k.host, k.stream, &buf); err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(buf.Bytes(), want.Bytes()) {
		t.Fatalf("raw partial log: %d bytes, want %d", buf.Len(), want.Len())
	}

	if err := w.Write(c.recs[half:]); err != nil {
		t.Fatal(err)
	} else if err := w.Complete(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		buf.Reset()
		if err := a.Raw(ctx, 9, k.host, k.stream, &buf); err != nil {
			t.Fatal(err)
		} else if !bytes.Equal(buf.Bytes(), inputs[k].Bytes()) {
			t.Fatalf("raw %s %s: %d bytes differ from the %d written", k.host, k.stream, buf.Len(), inputs[k].Len())
		}
	}
	buf.Reset()
	if err := a.Raw(ctx, 9, "nobody", gaffer.Stdout, &buf); err != nil || buf.Len() != 0 {
		t.Fatalf("raw of an unknown host = %d bytes, %v; want none", buf.Len(), err)
	}
	if err := a.Raw(ctx, 9, k.host, k.stream, failWriter{}); !errors.Is(err, errViewerGone) {
		t.Fatalf("raw to a failing writer: %v, want its error", err)
	}
}

var errViewerGone = errors.New("viewer gone")

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errViewerGone }

func TestNotFound(t *testing.T) {
	a, _ := newArchive(t)
	if _, _, err := a.Read(ctx, 42, 0, 10); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Read unknown job: %v, want ENOTFOUND", err)
	} else if gaffer.ErrorMessage(err) != "no log archived for job 42" {
		t.Fatalf("message %q", gaffer.ErrorMessage(err))
	}
	if err := a.Raw(ctx, 42, "h", gaffer.Stdout, &bytes.Buffer{}); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Raw unknown job: %v, want ENOTFOUND", err)
	}

	for _, complete := range []bool{false, true} {
		writeNumbered(t, a, 42, 10, complete)
		if err := a.Delete(42); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.Read(ctx, 42, 0, 10); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
			t.Fatalf("Read after Delete: %v, want ENOTFOUND", err)
		}
	}
}

func TestWriteRejects(t *testing.T) {
	a, _ := newArchive(t)
	w, err := a.Create(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(numberedRange(1, 5)); err != nil {
		t.Fatal(err)
	}
	huge := numbered(7)
	huge.Data = make([]byte, archive.MaxData+1)
	bad := map[string][]gaffer.Record{
		"repeat":    numberedRange(5, 2),
		"restart":   numberedRange(1, 1),
		"backwards": {numbered(8), numbered(7)},
		"huge":      {numbered(6), huge},
		"long host": {{Seq: 6, Host: string(make([]byte, 1<<16))}},
	}
	for name, batch := range bad {
		if err := w.Write(batch); gaffer.ErrorCode(err) != gaffer.EINVALID {
			t.Errorf("Write %s: %v, want EINVALID", name, err)
		}
	}
	// Rejected batches wrote nothing, and the log goes on.
	if err := w.Write(numberedRange(6, 5)); err != nil {
		t.Fatal(err)
	}
	got, _, err := a.Read(ctx, 1, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	assertNumbered(t, got, 1, 10)
}

func BenchmarkRead(b *testing.B) {
	const n = 1_000_000
	a, _ := newArchive(b)
	writeNumbered(b, a, 1, n, true)
	for _, after := range []int64{0, 500_000, 900_000, n - 100} {
		b.Run(fmt.Sprintf("after=%d", after), func(b *testing.B) {
			for b.Loop() {
				if got, _, err := a.Read(ctx, 1, after, 100); err != nil || len(got) != 100 {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}

// BenchmarkReadFollow reads a log from start to end as a viewer that fell
// behind the live buffer does: Reads of up to 1000 records, each after the
// last. The log is batch-shaped, as the server writes it: seq's short
// lines, 4096 of one host and time per Write, or lines of 200 B, 1300 per
// Write.
func BenchmarkReadFollow(b *testing.B) {
	const n = 200_000
	ts0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	wide := bytes.Repeat([]byte("0"), 199)
	for _, shape := range []struct {
		name  string
		batch int
		data  func(seq int64) []byte
	}{
		{"seq", 4096, func(seq int64) []byte { return []byte(strconv.FormatInt(seq, 10)) }},
		{"200B", 1300, func(int64) []byte { return wide }}, // a 256 KiB chunk's lines
	} {
		a, _ := newArchive(b)
		w, err := a.Create(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		recs := make([]gaffer.Record, 0, shape.batch)
		ts := ts0
		for seq := int64(1); seq <= n; seq++ {
			recs = append(recs, gaffer.Record{Seq: seq, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: shape.data(seq), NL: true})
			if len(recs) == shape.batch || seq == n {
				if err := w.Write(recs); err != nil {
					b.Fatal(err)
				}
				recs, ts = recs[:0], ts.Add(time.Millisecond)
			}
		}
		finish(b, w, true)
		// read: a new buffer for every read; into: one buffer for all the
		// reads (ReadInto), as a viewer's cursor does.
		for _, into := range []bool{false, true} {
			b.Run(shape.name+"/"+map[bool]string{false: "read", true: "into"}[into], func(b *testing.B) {
				b.ReportAllocs()
				var buf gaffer.ReadBuffer
				for b.Loop() {
					var after int64
					for after < n {
						if !into {
							buf = gaffer.ReadBuffer{}
						}
						got, _, err := a.ReadInto(ctx, 1, after, 1000, &buf)
						if err != nil || len(got) == 0 {
							b.Fatal(len(got), err)
						}
						after = got[len(got)-1].Seq
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			})
		}
		// lines: into one gaffer.Lines (ReadLines), as a viewer of lines
		// events reads.
		b.Run(shape.name+"/lines", func(b *testing.B) {
			b.ReportAllocs()
			var l gaffer.Lines
			for b.Loop() {
				for after := int64(0); after < n; after = l.Last() {
					if _, err := a.ReadLines(ctx, 1, after, 1<<12, &l); err != nil || l.Len() == 0 {
						b.Fatal(l.Len(), err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}

// collector numbers records emitted by framers, as the server's writer does.
type collector struct {
	mu   sync.Mutex
	recs []gaffer.Record
}

func newCollector() *collector { return &collector{} }

func (c *collector) emit(recs []gaffer.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range gaffer.CloneRecords(recs) { // the Framer reuses recs
		r.Seq = int64(len(c.recs) + 1)
		c.recs = append(c.recs, r)
	}
}

func filter(recs []gaffer.Record, host string, stream gaffer.Stream) []gaffer.Record {
	var out []gaffer.Record
	for _, r := range recs {
		if r.Host == host && r.Stream == stream {
			out = append(out, r)
		}
	}
	return out
}

func newArchive(tb testing.TB) (*archive.Archive, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "logs")
	a, err := archive.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return a, dir
}

func writeLog(tb testing.TB, a *archive.Archive, jobID int64, recs []gaffer.Record, complete bool) {
	tb.Helper()
	w, err := a.Create(ctx, jobID)
	if err != nil {
		tb.Fatal(err)
	}
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		if err := w.Write(recs[:n]); err != nil {
			tb.Fatal(err)
		}
		recs = recs[n:]
	}
	finish(tb, w, complete)
}

func finish(tb testing.TB, w gaffer.ArchiveWriter, complete bool) {
	tb.Helper()
	if complete {
		if err := w.Complete(); err != nil {
			tb.Fatal(err)
		}
	} else if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

// writeNumbered writes records 1..n made by numbered, in batches.
func writeNumbered(tb testing.TB, a *archive.Archive, jobID int64, n int, complete bool) {
	tb.Helper()
	w, err := a.Create(ctx, jobID)
	if err != nil {
		tb.Fatal(err)
	}
	for seq := int64(1); seq <= int64(n); seq += 1000 {
		if err := w.Write(numberedRange(seq, int(min(1000, int64(n)-seq+1)))); err != nil {
			tb.Fatal(err)
		}
	}
	finish(tb, w, complete)
}

func line(seq int64) string { return fmt.Sprintf("line %d", seq) }

func numbered(seq int64) gaffer.Record {
	return gaffer.Record{
		Seq:    seq,
		TS:     time.Unix(1700000000, seq).UTC(),
		Host:   fmt.Sprintf("host-%d", seq%3),
		Stream: gaffer.Stdout,
		Data:   []byte(line(seq)),
		NL:     seq%5 != 0,
	}
}

func numberedRange(first int64, n int) []gaffer.Record {
	recs := make([]gaffer.Record, n)
	for i := range recs {
		recs[i] = numbered(first + int64(i))
	}
	return recs
}

// assertNumbered checks that recs are numbered(first) … numbered(first+n-1).
func assertNumbered(t *testing.T, recs []gaffer.Record, first int64, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("got %d records, want %d from seq %d", len(recs), n, first)
	}
	for i := range recs {
		want := numbered(first + int64(i))
		if !sameRecord(recs[i], want) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, recs[i], want)
		}
	}
}

func assertRecords(t *testing.T, got, want []gaffer.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func sameRecord(a, b gaffer.Record) bool {
	return a.Seq == b.Seq && a.TS.Equal(b.TS) && a.Host == b.Host && a.Stream == b.Stream &&
		bytes.Equal(a.Data, b.Data) && a.NL == b.NL && a.File == b.File && a.Alert == b.Alert
}

func assertFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, a *archive.Archive, jobID, after int64) []gaffer.Record {
	t.Helper()
	var all []gaffer.Record
	for {
		got, end, err := a.Read(ctx, jobID, after, 0)
		if err != nil {
			t.Fatal(err)
		} else if len(got) == 0 && !end {
			t.Fatalf("Read(after=%d) = nothing, not the end", after)
		}
		size := 0
		for i := range got {
			size += got[i].Size()
		}
		if size > gaffer.MaxReadBytes+gaffer.MaxRecord+96 {
			t.Fatalf("Read(after=%d) returned %d bytes", after, size)
		}
		all = append(all, got...)
		if end {
			return all
		}
		after = got[len(got)-1].Seq
	}
}
