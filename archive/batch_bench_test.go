package archive_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// BenchmarkArchiveBatches writes, reads and searches the output of `seq 1
// 5000000` and 1 M lines of 200 bytes (GAFFER_BENCH_SEQ, GAFFER_BENCH_200
// change the counts), in batches shaped as the server makes them: the lines
// of one 32 KiB read, one host and stream, one time. It reports the archive's
// size over the output's (data file and indexes), and beside each speed the
// same work on the raw output in the same run: writing it to a file,
// reading its lines back (bufio.Scanner), grep -c -F. Run it with
// -benchtime 1x.
func BenchmarkArchiveBatches(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			n, batches, chunks, output := shape.batches(b)
			mb := float64(output) / 1e6

			for b.Loop() {
				// Write, and the raw write of the same bytes.
				dir := b.TempDir()
				a, write, writeCPU := writeBatches(b, filepath.Join(dir, "logs"), batches)
				raw := filepath.Join(dir, "raw.txt")
				f, err := os.Create(raw)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for _, c := range chunks {
					if _, err := f.Write(c); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				rawWrite := time.Since(start)
				f.Close()

				var logBytes, all int64
				des, err := os.ReadDir(filepath.Join(dir, "logs"))
				if err != nil {
					b.Fatal(err)
				}
				for _, de := range des {
					fi, err := de.Info()
					if err != nil {
						b.Fatal(err)
					}
					all += fi.Size()
					if de.Name() == "1.log" {
						logBytes = fi.Size()
					}
				}

				// Read the whole log, and read the raw lines.
				read, readCPU := readWhole(b, a, n)
				rf, err := os.Open(raw)
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				sc := bufio.NewScanner(rf)
				lines := 0
				for sc.Scan() {
					lines++
				}
				rawRead := time.Since(start)
				rf.Close()

				// Search a rare literal, and grep -c -F it.
				start, cpu0 := time.Now(), cpuTime(b)
				res, err := a.Search(ctx, 1, gaffer.SearchQuery{Pattern: "needle-4711", Case: true}, func(*gaffer.Record) error { return nil })
				if err != nil || res.Matches != 1 {
					b.Fatalf("search: %+v, %v", res, err)
				}
				search, searchCPU := time.Since(start), cpuTime(b)-cpu0
				start = time.Now()
				if out, err := exec.Command("grep", "-c", "-F", "needle-4711", raw).Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
					b.Fatalf("grep: %q, %v", out, err)
				}
				grep := time.Since(start)

				b.ReportMetric(float64(all)/float64(output), "x_output")
				b.ReportMetric(float64(logBytes)/float64(output), "log_x_output")
				b.ReportMetric(mb/write.Seconds(), "write_MB/s")
				b.ReportMetric(mb/rawWrite.Seconds(), "rawwrite_MB/s")
				b.ReportMetric(float64(n)/read.Seconds()/1e6, "read_Mrec/s")
				b.ReportMetric(float64(n)/readCPU.Seconds()/1e6, "read_Mrec/cpu-s")
				b.ReportMetric(mb/writeCPU.Seconds(), "write_MB/cpu-s")
				b.ReportMetric(mb/searchCPU.Seconds(), "search_MB/cpu-s")
				b.ReportMetric(float64(lines)/rawRead.Seconds()/1e6, "scan_Mlines/s")
				b.ReportMetric(mb/search.Seconds(), "search_MB/s")
				b.ReportMetric(mb/grep.Seconds(), "grep_MB/s")
				b.Logf("%d lines, %.1f MB output in %d batches: archive %d bytes (%.3f×; data file %.3f×)", n, mb, len(batches), all, float64(all)/float64(output), float64(logBytes)/float64(output))
				b.Logf("write %v (CPU %v, %.0f MB/s) vs raw write+fsync %v (%.0f MB/s): %.2f", write, writeCPU, mb/write.Seconds(), rawWrite, mb/rawWrite.Seconds(), rawWrite.Seconds()/write.Seconds())
				b.Logf("Read all %v (CPU %v, %.2f M records/s) vs bufio.Scanner %v (%.2f M lines/s): %.2f", read, readCPU, float64(n)/read.Seconds()/1e6, rawRead, float64(lines)/rawRead.Seconds()/1e6, rawRead.Seconds()/read.Seconds())
				b.Logf("Search %v (CPU %v, %.0f MB/s) vs grep -c -F %v (%.0f MB/s): %.2f", search, searchCPU, mb/search.Seconds(), grep, mb/grep.Seconds(), grep.Seconds()/search.Seconds())
			}
		})
	}
}

// benchShape is one output the archive benchmarks write: n lines made by
// line, n overridden by the environment variable env.
type benchShape struct {
	name string
	env  string
	n    int
	line func(rnd *rand.Rand, i int) string
}

var benchShapes = []benchShape{
	{"seq", "GAFFER_BENCH_SEQ", 5_000_000, func(_ *rand.Rand, i int) string { return strconv.Itoa(i) }},
	{"200B", "GAFFER_BENCH_200", 1_000_000, line200},
}

// batches returns the shape's output cut as 32 KiB reads would cut it: the
// records of each read (one host and stream, one time), its bytes, and
// their total. The middle line holds the literal "needle-4711".
func (bs benchShape) batches(b *testing.B) (n int, batches [][]gaffer.Record, chunks [][]byte, output int64) {
	b.Helper()
	n = bs.n
	if s := os.Getenv(bs.env); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("%s: %v", bs.env, err)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var batch []gaffer.Record
	var chunk []byte
	ts := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	needle := n/2 + 1
	for i := 1; i <= n; i++ {
		text := bs.line(rnd, i)
		if i == needle {
			text = "FATAL needle-4711" + text[min(len(text), 17):]
		}
		batch = append(batch, gaffer.Record{Seq: int64(i), TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte(text), NL: true})
		chunk = append(append(chunk, text...), '\n')
		if len(chunk) >= 32<<10 || i == n {
			output += int64(len(chunk))
			batches, chunks = append(batches, batch), append(chunks, chunk)
			batch, chunk = nil, nil
			ts = ts.Add(time.Millisecond)
		}
	}
	return n, batches, chunks, output
}

// writeBatches writes batches as job 1's complete log in a new archive in
// dir, and returns it with the time and CPU time the writing took.
func writeBatches(b *testing.B, dir string, batches [][]gaffer.Record) (*archive.Archive, time.Duration, time.Duration) {
	b.Helper()
	a, err := archive.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	w, err := a.Create(ctx, 1)
	if err != nil {
		b.Fatal(err)
	}
	start, cpu0 := time.Now(), cpuTime(b)
	for _, recs := range batches {
		if err := w.Write(recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Complete(); err != nil {
		b.Fatal(err)
	}
	return a, time.Since(start), cpuTime(b) - cpu0
}

// readWhole reads job 1's log of n records with Read, page by page, and
// returns the time and CPU time it took.
func readWhole(b *testing.B, a *archive.Archive, n int) (time.Duration, time.Duration) {
	b.Helper()
	start, cpu0 := time.Now(), cpuTime(b)
	got := 0
	for after := int64(0); ; {
		recs, end, err := a.Read(ctx, 1, after, 0)
		if err != nil {
			b.Fatal(err)
		}
		got += len(recs)
		if end {
			break
		}
		after = recs[len(recs)-1].Seq
	}
	read, readCPU := time.Since(start), cpuTime(b)-cpu0
	if got != n {
		b.Fatalf("read %d records of %d", got, n)
	}
	return read, readCPU
}

// line200 is a log line of 200 bytes with its newline.
func line200(rnd *rand.Rand, i int) string {
	s := fmt.Sprintf("2026-12-02T00:00:%02d.%03dZ INFO request id=%016x path=/api/v1/items/%d status=200 took=%dms user=u%05d",
		i/1000%60, i%1000, rnd.Uint64(), rnd.IntN(100000), rnd.IntN(900), rnd.IntN(50000))
	return (s + strings.Repeat(" pad", 50))[:199]
}
