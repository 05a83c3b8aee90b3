package archive_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// Batch frames: a Write's runs of records of one stream and time in one
// frame (see the package comment).

// readBatches makes batches of records as the server does: the lines of
// one 32 KiB read of one host's stdout, stamped with one time.
func readBatches(lines []string) (batches [][]gaffer.Record, output int64) {
	ts := t0
	var batch []gaffer.Record
	size := 0
	for i, l := range lines {
		batch = append(batch, gaffer.Record{Seq: int64(i + 1), TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte(l), NL: true})
		size += len(l) + 1
		output += int64(len(l) + 1)
		if size >= 32<<10 || i == len(lines)-1 {
			batches = append(batches, batch)
			batch, size = nil, 0
			ts = ts.Add(time.Millisecond)
		}
	}
	return batches, output
}

// dirSize is the bytes of the files in dir (and below).
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBatchSize: the archive of `seq 1 1000000` (short lines) and of lines
// of 200 bytes, data file and indexes, is at most 1.1 times the output.
func TestBatchSize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		line  func(int) string
		limit float64
	}{
		{"seq 1 1000000", 1_000_000, strconv.Itoa, 1.1},
		{"200-byte lines", 100_000, func(i int) string { return (fmt.Sprintf("%d ", i) + strings.Repeat("log line text ", 15))[:199] }, 1.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := make([]string, tc.n)
			for i := range lines {
				lines[i] = tc.line(i + 1)
			}
			batches, output := readBatches(lines)
			a, dir := newArchive(t)
			w, err := a.Create(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range batches {
				if err := w.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Complete(); err != nil {
				t.Fatal(err)
			}
			size, data := dirSize(t, dir), fileSize(t, filepath.Join(dir, "1.log"))
			ratio := float64(size) / float64(output)
			t.Logf("%d lines, %d bytes of output: archive %d bytes (%.3f×), data file %d (%.3f×)", tc.n, output, size, ratio, data, float64(data)/float64(output))
			if ratio > tc.limit {
				t.Errorf("archive is %.3f× the output, want at most %.2f×", ratio, tc.limit)
			}
			// What it holds is the output.
			var raw bytes.Buffer
			if err := a.Raw(ctx, 1, "web-1", gaffer.Stdout, &raw); err != nil {
				t.Fatal(err)
			} else if int64(raw.Len()) != output || !strings.HasPrefix(raw.String(), lines[0]+"\n"+lines[1]+"\n") {
				t.Fatalf("Raw gave %d bytes, want %d", raw.Len(), output)
			}
		})
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

// recordFrameSize is what a record took in a frame of its own.
func recordFrameSize(r *gaffer.Record) int64 {
	n := 28 + len(r.Stream) + len(r.Host) + len(r.Data)
	if r.File != "" {
		n += 2 + len(r.File)
	}
	return int64(n)
}

// fieldRecords is a log of runs that share a frame, with every field in
// every form: hosts and streams (empty, long, custom), files, alerts, NL
// false, the zero time, empty data, 64 KiB of data, bytes that are not
// UTF-8; runs cut by a gap in the seqs, another time, stream or file.
func fieldRecords() []gaffer.Record {
	ts := t0.Add(123456789)
	long := strings.Repeat("h", 300)
	custom := gaffer.Stream(strings.Repeat("s", 255))
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	var recs []gaffer.Record
	seq := int64(0)
	add := func(r gaffer.Record) {
		seq++
		r.Seq = seq
		recs = append(recs, r)
	}
	for i := range 5 {
		add(gaffer.Record{TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: fmt.Appendf(nil, "line %d", i), NL: i != 3, Alert: i == 2})
	}
	add(gaffer.Record{TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte{}, NL: true})
	add(gaffer.Record{TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: nil, NL: false})
	add(gaffer.Record{TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("nul\x00 and \xff\xfe\xc3("), NL: true})
	for i := range 3 { // the zero time
		add(gaffer.Record{Host: "", Stream: gaffer.System, Data: fmt.Appendf(nil, "system %d", i), NL: true})
	}
	for i := range 4 { // a follow job's
		add(gaffer.Record{TS: ts, Host: "web-2", Stream: gaffer.Stdout, File: "/var/log/app.log", Data: fmt.Appendf(nil, "app %d", i), NL: true, Alert: i%2 == 0})
	}
	add(gaffer.Record{TS: ts, Host: "web-2", Stream: gaffer.Stdout, File: "/var/log/other.log", Data: []byte("other"), NL: true})
	add(gaffer.Record{TS: ts, Host: "web-2", Stream: gaffer.Stdout, File: "/var/log/other.log", Data: []byte("other 2"), NL: true})
	for i := range 3 { // 64 KiB between short lines
		add(gaffer.Record{TS: ts, Host: "web-1", Stream: gaffer.Stderr, Data: []byte("short"), NL: true})
		if i == 1 {
			add(gaffer.Record{TS: ts, Host: "web-1", Stream: gaffer.Stderr, Data: big, NL: false})
		}
	}
	for i := range 300 { // long names, custom stream
		add(gaffer.Record{TS: ts, Host: long, Stream: custom, Data: fmt.Appendf(nil, "custom %d", i), NL: i%7 != 0})
	}
	seq += 5 // a gap: the next run starts a frame
	for i := range 3 {
		add(gaffer.Record{TS: ts, Host: long, Stream: custom, Data: fmt.Appendf(nil, "after the gap %d", i), NL: true})
	}
	for i := range 2000 { // more than a frame holds, one time
		add(gaffer.Record{TS: ts.Add(time.Second), Host: "web-1", Stream: gaffer.Stdout, Data: []byte(strconv.Itoa(i)), NL: true})
	}
	return recs
}

// TestBatchRoundTrip writes runs of records that share frames and reads
// every field back, by every query: Read from every seq, ReadRange, Raw of
// each stream, Search, Summary, SeqAt.
func TestBatchRoundTrip(t *testing.T) {
	all := fieldRecords()
	for _, complete := range []bool{true, false} {
		t.Run(fmt.Sprintf("complete=%v", complete), func(t *testing.T) {
			a, dir := newArchive(t)
			w, err := a.Create(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			// Cut as the runs are, and elsewhere too.
			for rest, n := all, 1; len(rest) > 0; n = n*3 + 1 {
				k := min(len(rest), n)
				if err := w.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			finish(t, w, complete)
			name := "1.log"
			if !complete {
				name += ".partial"
			}
			var single int64 = 8
			for i := range all {
				single += recordFrameSize(&all[i])
			}
			if size := fileSize(t, filepath.Join(dir, name)); size*2 > single {
				t.Errorf("data file of %d bytes; a frame per record takes %d", size, single)
			}

			if complete {
				assertRecords(t, readAll(t, a, 1, 0), all)
			} else {
				assertRecords(t, readValid(t, a, 1), all)
			}
			for i := range all {
				for _, limit := range []int{1, 3} {
					got, end, err := a.Read(ctx, 1, all[i].Seq-1, limit)
					if err != nil {
						t.Fatal(err)
					}
					want, wantEnd := modelRange(all[i:], complete, gaffer.LogRange{After: all[i].Seq - 1, Limit: limit})
					assertRecords(t, got, want)
					if end != wantEnd {
						t.Fatalf("Read(after=%d, %d): end %v, want %v", all[i].Seq-1, limit, end, wantEnd)
					}
				}
			}
			streams := map[[2]string]bool{}
			for _, r := range all {
				if k := [2]string{r.Host, string(r.Stream)}; !streams[k] {
					streams[k] = true
					assertRaw(t, a, all, r.Host, r.Stream)
				}
			}
			for _, f := range []gaffer.LogFilter{{}, {Host: "web-1"}, {Stream: gaffer.System}, {File: "/var/log/app.log"},
				{Host: "web-2", File: "/var/log/other.log"}, {Stream: gaffer.Stderr}, {Host: strings.Repeat("h", 300)}} {
				for _, r := range []gaffer.LogRange{{Filter: f}, {Filter: f, After: 7, Limit: 5}, {Filter: f, Before: gaffer.TailSeq, Limit: 4},
					{Filter: f, Before: 320, Limit: 30}, {Filter: f, Before: 20, Limit: 2}} {
					got, end, err := a.ReadRange(ctx, 1, r)
					if err != nil {
						t.Fatal(err)
					}
					want, wantEnd := modelRange(all, complete, r)
					assertRecords(t, got, want)
					if end != wantEnd {
						t.Fatalf("ReadRange(%+v): end %v, want %v", r, end, wantEnd)
					}
				}
			}
			for _, q := range []gaffer.SearchQuery{{Pattern: "line 3"}, {Pattern: "nul\x00"}, {Pattern: "APP", Filter: gaffer.LogFilter{File: "/var/log/app.log"}},
				{Pattern: "cdef0123", Case: true}, {Pattern: `^(custom 1|19)\d*$`, Regex: true, Limit: 1000}, {Pattern: "3", After: 400, Limit: 10}} {
				var got []gaffer.Record
				res, err := a.Search(ctx, 1, q, func(r *gaffer.Record) error { got = append(got, *r); return nil })
				if err != nil {
					t.Fatal(err)
				}
				want, wantRes := modelSearch(all, q)
				assertRecords(t, got, want)
				if res.Matches != wantRes.Matches || res.Done != wantRes.Done {
					t.Fatalf("Search(%+v) = %+v, want %+v", q, res, wantRes)
				}
			}
			sum, err := a.Summary(ctx, 1)
			if err != nil {
				t.Fatal(err)
			} else if want := modelSummary(all, complete); !sameSummary(sum, want) {
				t.Fatalf("Summary = %+v, want %+v", sum, want)
			}
			for _, at := range []time.Time{{}, t0, t0.Add(123456789), t0.Add(123456790), t0.Add(time.Second + 123456789), t0.Add(time.Hour)} {
				if got, err := a.SeqAt(ctx, 1, at); err != nil {
					t.Fatal(err)
				} else if want := modelSeqAt(all, at); got != want {
					t.Fatalf("SeqAt(%v) = %d, want %d", at, got, want)
				}
			}
		})
	}
}

// batched stamps each run of records of one host, stream and file with the
// time of its first (runs of at most a few hundred), as a read's lines are:
// a log whose writes make batch frames.
func batched(all []gaffer.Record) []gaffer.Record {
	all = append([]gaffer.Record(nil), all...)
	start := 0
	for i := range all {
		r, s := &all[i], &all[start]
		if i-start >= int(s.Seq*7919%300) || r.Host != s.Host || r.Stream != s.Stream || r.File != s.File {
			start = i
			continue
		}
		r.TS = s.TS
	}
	return all
}

// TestBatchRandomAccess reads batch frames from every kind of place: from
// the middle of a frame, from an index entry inside a frame, backward into
// a frame, with filters that skip frames of other streams.
func TestBatchRandomAccess(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 3))
	all := batched(randomLog(rnd, 20_000, false))
	a, _ := newArchive(t)
	writeLog(t, a, 1, all, true)
	for i := 0; i < len(all); i += 1 + rnd.IntN(400) {
		for _, limit := range []int{1, 2, 700} {
			got, _, err := a.Read(ctx, 1, all[i].Seq-1, limit)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := modelRange(all[i:], true, gaffer.LogRange{After: all[i].Seq - 1, Limit: limit})
			assertRecords(t, got, want)
		}
	}
	for range 3 {
		checkModel(t, rnd, a, all, true, true)
	}
}

// TestBatchTornTail: a partial log whose last batch frame is torn (cut
// anywhere in it, or a bit flipped) reads up to the frame before it, and
// Seal cuts exactly that frame away.
func TestBatchTornTail(t *testing.T) {
	rnd := rand.New(rand.NewPCG(12, 4))
	all := batched(randomLog(rnd, 3000, false))
	dir0 := t.TempDir()
	a0, err := archive.Open(dir0)
	if err != nil {
		t.Fatal(err)
	}
	writeLog(t, a0, 1, all, false)
	good, err := os.ReadFile(filepath.Join(dir0, "1.log.partial"))
	if err != nil {
		t.Fatal(err)
	}
	recs, ends := validFrameEnds(good)
	assertRecords(t, recs, all)
	// The last frame: the records that end where the file ends.
	first := len(ends)
	for first > 0 && ends[first-1] == len(good) {
		first--
	}
	if len(all)-first < 2 {
		t.Fatalf("the last frame holds %d records: not a batch", len(all)-first)
	}
	lastStart := ends[first-1]
	for _, damage := range []string{"cut in its header", "cut in its lengths", "cut in its data", "cut before its last byte", "flipped"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(dir0)); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "1.log.partial")
			switch damage {
			case "cut in its header":
				truncate(t, p, int64(lastStart+5))
			case "cut in its lengths":
				truncate(t, p, int64(lastStart+40))
			case "cut in its data":
				truncate(t, p, int64((lastStart+len(good))/2))
			case "cut before its last byte":
				truncate(t, p, int64(len(good)-1))
			case "flipped":
				flip(t, p, int64(len(good)-3))
			}
			a, err := archive.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			assertRecords(t, readValid(t, a, 1), all[:first])
			checkModel(t, rnd, a, all[:first], false, true)
			if err := a.Seal(ctx, 1); err != nil {
				t.Fatal(err)
			} else if size := fileSize(t, filepath.Join(dir, "1.log")); size != int64(lastStart) {
				t.Fatalf("sealed at %d bytes, want %d", size, lastStart)
			}
			assertRecords(t, readAll(t, a, 1, 0), all[:first])
			checkModel(t, rnd, a, all[:first], true, true)
		})
	}
}
