package archive_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// createRetained opens a segmented log for job 1.
func createRetained(t *testing.T, a *archive.Archive, keep gaffer.Retention) gaffer.ArchiveTrimmer {
	t.Helper()
	w, err := a.CreateRetained(ctx, 1, keep)
	if err != nil {
		t.Fatal(err)
	}
	return w.(gaffer.ArchiveTrimmer)
}

// segmentSizes returns the sizes of job 1's segments, oldest first.
func segmentSizes(t *testing.T, dir string) []int64 {
	t.Helper()
	var sizes []int64
	for _, name := range segmentNames(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, "1.seg", name))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	return sizes
}

func sum(xs []int64) (s int64) {
	for _, x := range xs {
		s += x
	}
	return s
}

// keptFrom returns the records of all from seq first on.
func keptFrom(all []gaffer.Record, first int64) []gaffer.Record {
	i := sort.Search(len(all), func(i int) bool { return all[i].Seq >= first })
	return all[i:]
}

// TestRetainedModel writes random logs into segmented logs, trims them by
// size as they grow, and compares every query with the model over the
// records kept: complete, partial, torn, sealed.
func TestRetainedModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(10, 10))
	trimmed := 0
	defer func() {
		if trimmed < 3 {
			t.Errorf("only %d logs were trimmed", trimmed)
		}
	}()
	for i := range 16 {
		n := []int{0, 1, 3000, 12_000, 20_000}[rnd.IntN(5)]
		all := randomLog(rnd, n, rnd.IntN(5) == 0)
		if i%2 == 1 {
			all = batched(all) // batch frames
		}
		complete := rnd.IntN(2) == 0
		damage := []string{"none", "torn tail", "no sdx", "oldest gone"}[rnd.IntN(4)]
		keep := gaffer.Retention{Bytes: []int64{100 << 10, 300 << 10, 1 << 30}[rnd.IntN(3)]}
		t.Run(fmt.Sprintf("%d/n=%d/batched=%v/keep=%d/complete=%v/%s", i, n, i%2 == 1, keep.Bytes, complete, damage), func(t *testing.T) {
			a, dir := newArchive(t)
			w := createRetained(t, a, keep)
			first := int64(0)
			for rest := all; len(rest) > 0; {
				k := min(len(rest), 1+rnd.IntN(400))
				if err := w.(gaffer.ArchiveWriter).Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
				if rnd.IntN(4) == 0 {
					f, err := w.Trim(keep, time.Now())
					if err != nil {
						t.Fatal(err)
					} else if f < first {
						t.Fatalf("Trim went back from seq %d to %d", first, f)
					}
					first = f
				}
			}
			f, err := w.Trim(keep, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			first = f
			if first > 0 {
				trimmed++
			}
			sizes := segmentSizes(t, dir)
			if total := sum(sizes); first > 0 && (total < keep.Bytes || total-sizes[0] >= keep.Bytes) {
				t.Fatalf("kept segments %v (%d bytes) for a window of %d", sizes, total, keep.Bytes)
			} else if first == 0 && len(sizes) > 1 && total-sizes[0] >= keep.Bytes {
				t.Fatalf("nothing dropped from segments %v for a window of %d", sizes, keep.Bytes)
			}
			kept := keptFrom(all, first)
			finish(t, w.(gaffer.ArchiveWriter), complete)
			switch damage {
			case "torn tail":
				if !complete && n > 0 {
					p := filepath.Join(dir, "1.seg", lastSegment(t, dir))
					fi, _ := os.Stat(p)
					truncate(t, p, fi.Size()-1-rnd.Int64N(min(fi.Size()-1, 5000)))
					kept = readValid(t, a, 1)
				}
			case "no sdx":
				os.Remove(filepath.Join(dir, "1.sdx"))
				os.Remove(filepath.Join(dir, "1.sdx.partial"))
			case "oldest gone":
				// A crash in a Trim after its first removal.
				if len(sizes) > 1 {
					os.Remove(filepath.Join(dir, "1.seg", firstSegment(t, dir)))
					kept = readValid(t, a, 1)
					if len(kept) == 0 {
						t.Fatal("nothing left after the oldest segment went")
					}
				}
			}
			checkModel(t, rnd, a, kept, complete, true)
			checkFirstSeq(t, a, kept, all)
			if !complete {
				if err := a.Seal(ctx, 1); err != nil {
					t.Fatal(err)
				}
				checkModel(t, rnd, a, kept, true, true)
				checkFirstSeq(t, a, kept, all)
			}
			if err := a.Delete(1); err != nil {
				t.Fatal(err)
			}
			assertFiles(t, dir)
		})
	}
}

// checkFirstSeq checks Summary.FirstSeq and a read from the start.
func checkFirstSeq(t *testing.T, a *archive.Archive, kept, all []gaffer.Record) {
	t.Helper()
	sum, err := a.Summary(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	if len(kept) > 0 && len(kept) < len(all) {
		want = kept[0].Seq
	}
	if sum.FirstSeq != want {
		t.Fatalf("Summary.FirstSeq = %d, want %d", sum.FirstSeq, want)
	}
	got, _, err := a.Read(ctx, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	} else if len(kept) > 0 && (len(got) != 1 || got[0].Seq != kept[0].Seq) {
		t.Fatalf("Read(after 0) = %v, want seq %d", seqs(got), kept[0].Seq)
	}
	var raw bytes.Buffer
	if len(kept) > 0 {
		if err := a.Raw(ctx, 1, kept[0].Host, kept[0].Stream, &raw); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		gaffer.Rebuild(&want, filter(kept, kept[0].Host, kept[0].Stream))
		if !bytes.Equal(raw.Bytes(), want.Bytes()) {
			t.Fatalf("Raw gave %d bytes, want the %d kept", raw.Len(), want.Len())
		}
	}
}

func segmentNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, "1.seg"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func firstSegment(t *testing.T, dir string) string { return segmentNames(t, dir)[0] }

func lastSegment(t *testing.T, dir string) string {
	n := segmentNames(t, dir)
	return n[len(n)-1]
}

// TestTrimByAge drops the segments whose records are all older than the
// window, by the records' time, and never the one being written.
func TestTrimByAge(t *testing.T) {
	a, dir := newArchive(t)
	keep := gaffer.Retention{Age: 8 * time.Minute} // segments of a minute
	w := createRetained(t, a, keep)
	var all []gaffer.Record
	for i := range 600 { // one record each 10 s, 100 minutes
		r := numbered(int64(i + 1))
		r.TS = t0.Add(time.Duration(i) * 10 * time.Second)
		all = append(all, r)
		if err := w.(gaffer.ArchiveWriter).Write([]gaffer.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	now := all[len(all)-1].TS
	first, err := w.Trim(keep, now)
	if err != nil {
		t.Fatal(err)
	}
	cut := now.Add(-keep.Age)
	// Every record newer than the window is kept; at most a segment (a
	// minute) of older ones.
	if f := all[first-1].TS; f.After(cut) || f.Before(cut.Add(-time.Minute-10*time.Second)) {
		t.Fatalf("first record kept is from %v, want about %v", f, cut)
	}
	if n := len(segmentNames(t, dir)); n < 8 || n > 10 {
		t.Fatalf("%d segments kept for 8 minutes of one-minute segments", n)
	}
	assertRecords(t, readValid(t, a, 1), all[first-1:])

	// Far in the future: all but the segment being written go.
	first, err = w.Trim(keep, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	} else if n := len(segmentNames(t, dir)); n != 1 {
		t.Fatalf("%d segments kept, want the one being written", n)
	}
	assertRecords(t, readValid(t, a, 1), all[first-1:])
	finish(t, w.(gaffer.ArchiveWriter), true)
}

// TestRetainedZeroIsSingleFile: a log created without a window is written
// as Create writes it, byte for byte, and Trim drops nothing.
func TestRetainedZeroIsSingleFile(t *testing.T) {
	recs := numberedRange(1, 3000)
	var files [2]map[string][]byte
	for i := range files {
		a, dir := newArchive(t)
		var w gaffer.ArchiveWriter
		var err error
		if i == 0 {
			w, err = a.Create(ctx, 1)
		} else {
			w, err = a.CreateRetained(ctx, 1, gaffer.Retention{})
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(recs); err != nil {
			t.Fatal(err)
		}
		if first, err := w.(gaffer.ArchiveTrimmer).Trim(gaffer.Retention{Bytes: 1}, time.Now()); first != 0 || err != nil {
			t.Fatalf("Trim of a single file = %d, %v", first, err)
		}
		finish(t, w, true)
		files[i] = map[string][]byte{}
		des, _ := os.ReadDir(dir)
		for _, de := range des {
			b, err := os.ReadFile(filepath.Join(dir, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[i][de.Name()] = b
		}
	}
	if len(files[0]) != 3 || fmt.Sprint(files[0]) != fmt.Sprint(files[1]) {
		t.Fatal("a log created with no window differs from one created by Create")
	}
}

// TestSegmentHole: a segment that ends before the next one starts (a crash
// lost its tail) ends the log there, as a torn frame does; Seal cuts the
// rest.
func TestSegmentHole(t *testing.T) {
	a, dir := newArchive(t)
	w := createRetained(t, a, gaffer.Retention{Bytes: 1 << 20}) // never trimmed here
	all := numberedRange(1, 20_000)
	for i := 0; i < len(all); i += 100 {
		if err := w.(gaffer.ArchiveWriter).Write(all[i : i+100]); err != nil {
			t.Fatal(err)
		}
	}
	finish(t, w.(gaffer.ArchiveWriter), false)
	names := segmentNames(t, dir)
	if len(names) < 3 {
		t.Fatalf("%d segments, want at least 3", len(names))
	}
	p := filepath.Join(dir, "1.seg", names[1])
	fi, _ := os.Stat(p)
	truncate(t, p, fi.Size()-3)
	kept := readValid(t, a, 1)
	if len(kept) == 0 || len(kept) >= len(all) {
		t.Fatalf("read %d records past a hole, want those before it", len(kept))
	}
	assertNumbered(t, kept, 1, len(kept))
	if err := a.Seal(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentNames(t, dir)); n != 2 {
		t.Fatalf("%d segments after Seal, want the 2 before the hole", n)
	}
	got, end, err := a.Read(ctx, 1, kept[len(kept)-2].Seq, 10)
	if err != nil || !end || len(got) != 1 {
		t.Fatalf("read the sealed end: %d records, end %v, %v", len(got), end, err)
	}
	checkModel(t, rand.New(rand.NewPCG(1, 1)), a, kept, true, true)
}

// TestTrimWhileReading reads a log forward and backward, filtered or not,
// while it is written and trimmed: reads never fail and always return
// consecutive records, starting at the oldest kept when they asked for
// older ones.
func TestTrimWhileReading(t *testing.T) {
	a, _ := newArchive(t)
	keep := gaffer.Retention{Bytes: 256 << 10}
	w := createRetained(t, a, keep)
	const n = 60_000
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			after := int64(0)
			for {
				select {
				case <-done:
					return
				default:
				}
				var recs []gaffer.Record
				var err error
				switch r {
				case 0:
					recs, _, err = a.Read(ctx, 1, after, 500)
				case 1:
					recs, _, err = a.ReadRange(ctx, 1, gaffer.LogRange{Filter: gaffer.LogFilter{Host: "host-1"}, After: after, Limit: 500})
				case 2:
					recs, _, err = a.ReadRange(ctx, 1, gaffer.LogRange{Before: gaffer.TailSeq, Limit: 500})
				}
				if err != nil {
					errs <- err
					return
				}
				for i := 1; i < len(recs) && r != 1; i++ {
					if recs[i].Seq != recs[i-1].Seq+1 {
						errs <- fmt.Errorf("reader %d: seq %d after %d", r, recs[i].Seq, recs[i-1].Seq)
						return
					}
				}
				if len(recs) > 0 && recs[0].Seq <= after {
					errs <- fmt.Errorf("reader %d: seq %d after %d", r, recs[0].Seq, after)
					return
				}
				if r != 2 {
					if len(recs) > 0 {
						after = recs[len(recs)-1].Seq
					}
					if after > n-1000 {
						after = 0 // again from the start: the oldest kept
					}
				}
				if _, err := a.Summary(ctx, 1); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := int64(1); i <= n; i += 100 {
		if err := w.(gaffer.ArchiveWriter).Write(numberedRange(i, 100)); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 1 {
			if _, err := w.Trim(keep, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	first, err := w.Trim(keep, time.Now())
	if err != nil || first < 2 {
		t.Fatalf("Trim = %d, %v; want a window", first, err)
	}
	finish(t, w.(gaffer.ArchiveWriter), true)
	all := readAll(t, a, 1, 0)
	assertNumbered(t, all, first, n-int(first)+1)
	sum, err := a.Summary(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var recs int64
	for _, s := range sum.Streams {
		recs += s.Records
	}
	if sum.FirstSeq != first || sum.LastSeq != n || recs != int64(len(all)) || !slices.IsSortedFunc(all, func(x, y gaffer.Record) int { return int(x.Seq - y.Seq) }) {
		t.Fatalf("Summary = first %d last %d, %d records; want %d %d %d", sum.FirstSeq, sum.LastSeq, recs, first, n, len(all))
	}
}

// FuzzSegments writes a segmented log in batches with trims, damages one
// segment (cut or flipped byte), and reads it: reads never fail, and give
// records written, in order, from a run of them with no hole before the
// damage.
func FuzzSegments(f *testing.F) {
	f.Add(uint64(1), uint16(3000), uint8(0), uint32(0))
	f.Add(uint64(2), uint16(9000), uint8(1), uint32(77))
	f.Add(uint64(3), uint16(9000), uint8(2), uint32(100000))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, damage uint8, at uint32) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		all := randomLog(rnd, int(n%12_000), false)
		a, dir := newArchive(t)
		keep := gaffer.Retention{Bytes: 100 << 10}
		w := createRetained(t, a, keep)
		for rest := all; len(rest) > 0; {
			k := min(len(rest), 1+rnd.IntN(300))
			if err := w.(gaffer.ArchiveWriter).Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
			if rnd.IntN(3) == 0 {
				if _, err := w.Trim(keep, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		finish(t, w.(gaffer.ArchiveWriter), false)
		names := segmentNames(t, dir)
		p := filepath.Join(dir, "1.seg", names[int(at)%len(names)])
		fi, _ := os.Stat(p)
		switch damage % 3 {
		case 1:
			truncate(t, p, int64(at)%(fi.Size()+1))
		case 2:
			if fi.Size() > 0 {
				flip(t, p, int64(at)%fi.Size())
			}
		}
		got := readValid(t, a, 1)
		i := 0
		if len(got) > 0 {
			i = sort.Search(len(all), func(i int) bool { return all[i].Seq >= got[0].Seq })
		}
		if len(got) > len(all)-i || !slices.EqualFunc(got, all[i:i+len(got)], sameRecord) {
			t.Fatalf("read %d records that are not a run of those written", len(got))
		}
		for _, r := range []gaffer.LogRange{{Before: gaffer.TailSeq}, {Filter: gaffer.LogFilter{Host: "h1"}}} {
			if _, _, err := a.ReadRange(ctx, 1, r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.Summary(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := a.Seal(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if sealed := readAll(t, a, 1, 0); !slices.EqualFunc(sealed, got, sameRecord) {
			t.Fatalf("sealed log holds %d records, not the %d read before", len(sealed), len(got))
		}
	})
}

// TestBigBatchSegments: one Write of many segments' worth is cut into
// segments, so that Trim can drop its oldest part.
func TestBigBatchSegments(t *testing.T) {
	a, dir := newArchive(t)
	keep := gaffer.Retention{Bytes: 1 << 20}
	w := createRetained(t, a, keep)
	const n = 60_000 // about 2.5 MB of frames
	if err := w.(gaffer.ArchiveWriter).Write(numberedRange(1, n)); err != nil {
		t.Fatal(err)
	}
	if k := len(segmentNames(t, dir)); k < 10 {
		t.Fatalf("%d segments, want one per 128 KiB", k)
	}
	first, err := w.Trim(keep, time.Now())
	if err != nil || first <= 1 {
		t.Fatalf("Trim = %d, %v; want the oldest part dropped", first, err)
	}
	finish(t, w.(gaffer.ArchiveWriter), true)
	assertNumbered(t, readAll(t, a, 1, 0), first, n-int(first)+1)
}

// BenchmarkWriteRetained writes 100-byte records in batches of 256 into a
// single-file log and into a segmented one with a 16 MiB window trimmed
// every MiB; it reports the longest Trim.
func BenchmarkWriteRetained(b *testing.B) {
	for _, keep := range []gaffer.Retention{{}, {Bytes: 16 << 20}} {
		b.Run(fmt.Sprintf("window=%d", keep.Bytes), func(b *testing.B) {
			a, _ := newArchive(b)
			w, err := a.CreateRetained(ctx, 1, keep)
			if err != nil {
				b.Fatal(err)
			}
			batch := make([]gaffer.Record, 256)
			data := bytes.Repeat([]byte("x"), 100)
			seq := int64(0)
			var longest time.Duration
			b.SetBytes(int64(len(batch) * len(data)))
			for i := 0; i < b.N; i++ {
				for j := range batch {
					seq++
					batch[j] = gaffer.Record{Seq: seq, TS: t0, Host: "web-1", Stream: gaffer.Stdout, Data: data, NL: true}
				}
				if err := w.Write(batch); err != nil {
					b.Fatal(err)
				}
				if i%40 == 39 {
					start := time.Now()
					if _, err := w.(gaffer.ArchiveTrimmer).Trim(keep, time.Now()); err != nil {
						b.Fatal(err)
					}
					longest = max(longest, time.Since(start))
				}
			}
			b.ReportMetric(float64(longest.Microseconds()), "max-trim-µs")
			finish(b, w, true)
		})
	}
}

// TestRetainedSyncCoversEverySegment: a Sync makes durable every segment
// written since the last one, not only the segment being written (a
// segment closed at a roll kept its data in the page cache only).
func TestRetainedSyncCoversEverySegment(t *testing.T) {
	a, dir := newArchive(t)
	synced := archive.RecordSyncs(t)
	w, err := a.CreateRetained(ctx, 1, gaffer.Retention{Bytes: 8 * archive.MinSegmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 1000)
	for seq := int64(1); seq <= 300; seq++ {
		if err := w.Write([]gaffer.Record{{Seq: seq, Host: "web-1", Stream: gaffer.Stdout, Data: data, NL: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	segs := segmentNames(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments; the test needs a few", len(segs))
	}
	for _, name := range segs {
		if !slices.Contains(synced(), name) {
			t.Errorf("segment %s was not synced (synced: %v)", name, synced())
		}
	}
	finish(t, w, true)
}
