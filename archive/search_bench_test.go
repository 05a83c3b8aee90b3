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
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// BenchmarkSearch searches a log of GAFFER_BENCH_LINES lines (default 2
// million, like a busy build) and reports its speed in MB/s of the raw
// output beside that of grep -c over the same bytes, run in the same
// process. Patterns: rare and frequent, with and without case, regular
// expressions.
func BenchmarkSearch(b *testing.B) {
	lines := 2_000_000
	if s := os.Getenv("GAFFER_BENCH_LINES"); s != "" {
		var err error
		if lines, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	a, _ := newArchive(b)
	rnd := rand.New(rand.NewPCG(5, 6))
	w, err := a.Create(ctx, 1)
	if err != nil {
		b.Fatal(err)
	}
	paths := []string{"/api/users", "/api/orders", "/static/app.js", "/healthz", "/api/search"}
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN"}
	t := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	batch := make([]gaffer.Record, 0, 1000)
	for seq := 1; seq <= lines; seq++ {
		t = t.Add(time.Millisecond)
		text := fmt.Sprintf("%s %s request id=%08x path=%s status=200 took=%dms",
			t.Format("15:04:05.000"), levels[rnd.IntN(len(levels))], rnd.Uint32(), paths[rnd.IntN(len(paths))], rnd.IntN(900))
		if seq == lines/2 {
			text = "FATAL: segmentation fault in worker 7 (needle-4711)"
		}
		batch = append(batch, gaffer.Record{Seq: int64(seq), TS: t, Host: "web-1", Stream: gaffer.Stdout, Data: []byte(text), NL: true})
		if len(batch) == cap(batch) || seq == lines {
			if err := w.Write(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := w.Complete(); err != nil {
		b.Fatal(err)
	}
	raw := filepath.Join(b.TempDir(), "raw.txt")
	f, err := os.Create(raw)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if err := a.Raw(ctx, 1, "web-1", gaffer.Stdout, bw); err != nil {
		b.Fatal(err)
	} else if err := bw.Flush(); err != nil {
		b.Fatal(err)
	} else if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(raw)
	if err != nil {
		b.Fatal(err)
	}
	mb := float64(fi.Size()) / 1e6

	for _, bc := range []struct {
		name     string
		q        gaffer.SearchQuery
		grepArgs []string
		_        string
	}{
		{"rare literal", gaffer.SearchQuery{Pattern: "needle-4711", Case: true}, []string{"-F"}, ""},
		{"rare literal no case", gaffer.SearchQuery{Pattern: "Segmentation Fault"}, []string{"-F", "-i"}, ""},
		{"rare regex", gaffer.SearchQuery{Pattern: `needle-[0-9]+`, Regex: true, Case: true}, []string{"-E"}, ""},
		{"rare regex no case", gaffer.SearchQuery{Pattern: `fatal:.*worker [0-9]`, Regex: true}, []string{"-E", "-i"}, ""},
		{"frequent literal", gaffer.SearchQuery{Pattern: "took=899ms", Case: true, Limit: gaffer.MaxSearchLimit}, []string{"-F"}, ""},
		{"regex without literal", gaffer.SearchQuery{Pattern: `[0-9]{3}ms$`, Regex: true, Case: true, Limit: 10}, []string{"-E", "-m", "10"}, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// grep -c over the raw bytes: best of three runs.
			// The machine may be shared: CPU time is reported beside
			// elapsed time, for both.
			grepBest, grepCPU := time.Duration(1<<62), time.Duration(1<<62)
			var grepOut string
			for range 3 {
				start := time.Now()
				cmd := exec.Command("grep", append(append([]string{"-c"}, bc.grepArgs...), bc.q.Pattern, raw)...)
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("grep: %v", err)
				}
				grepBest = min(grepBest, time.Since(start))
				grepCPU = min(grepCPU, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
				grepOut = strings.TrimSpace(string(out))
			}
			var res gaffer.SearchResult
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for b.Loop() {
				res, err = a.Search(ctx, 1, bc.q, func(*gaffer.Record) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
			perOp := b.Elapsed() / time.Duration(b.N)
			cpuPerOp := (cpuTime(b) - cpu0) / time.Duration(b.N)
			b.ReportMetric(mb/perOp.Seconds(), "MB/s")
			b.ReportMetric(mb/grepBest.Seconds(), "grep_MB/s")
			b.ReportMetric(mb/cpuPerOp.Seconds(), "MB/cpu-s")
			b.ReportMetric(mb/grepCPU.Seconds(), "grep_MB/cpu-s")
			b.Logf("%d lines, %.0f MB raw: search %v, CPU %v (%d matches, done %v); grep -c %v, CPU %v (%s)",
				lines, mb, perOp, cpuPerOp, res.Matches, res.Done, grepBest, grepCPU, grepOut)
		})
	}
}

// cpuTime is the CPU time the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
