package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// ---------------------------------------------------------------- IngestRows

// Issue 11's ingest rows: `seq 1 5000000`, and 1 M lines of 200 B (199
// zero-padded digits and the newline, every line distinct and checkable).
const (
	rowsSeqLines  = 5_000_000
	rowsWideLines = 1_000_000
	rowsWideWidth = 199
)

var (
	rowsSeqCommand  = fmt.Sprintf("seq 1 %d", rowsSeqLines)
	rowsWideCommand = fmt.Sprintf("seq -f '%%0%d.0f' 1 %d", rowsWideWidth, rowsWideLines)
)

// rowTimeout bounds one row: a quiet machine takes seconds, but the seq
// viewer row took over 5 minutes under a load of 90.
const rowTimeout = 20 * time.Minute

// cpuProfileVar names a file for a CPU profile of the embedded server over
// the whole benchmark (all its rows and their after-work): the benchmark
// passes it to `gaffer serve` as GAFFER_CPUPROFILE. Unset, nothing is
// profiled.
const cpuProfileVar = "GAFFER_BENCH_CPUPROFILE"

// rowsVar names the rows to run, by key, comma-separated (e.g.
// "seq,seq-viewer"), so that a profile covers only them; unset, all run.
const rowsVar = "GAFFER_BENCH_ROWS"

// rowWanted reports whether the row with key runs in this benchmark.
func rowWanted(key string) bool {
	v := os.Getenv(rowsVar)
	if v == "" {
		return true
	}
	for _, k := range strings.Split(v, ",") {
		if strings.TrimSpace(k) == key {
			return true
		}
	}
	return false
}

// ingestRowSpec is one row of the table.
type ingestRowSpec struct {
	key, name string
	shared    bool
	wide      bool
	viewer    bool
	batch     bool    // the viewer asks for lines events (?batch=1)
	target    float64 // the ratio to reach
}

var ingestRowSpecs = []ingestRowSpec{
	{"seq", "`seq 1 5000000`, no viewer (POST → job done)", false, false, false, false, 0.5},
	{"seq-viewer", "`seq 1 5000000`, one live SSE viewer (POST → `end`)", false, false, true, false, 0.4},
	{"seq-batch", "same, the viewer reading lines events (`?batch=1`, as the CLI does)", false, false, true, true, 0.4},
	{"200B", "1 M lines of 200 B, no viewer", false, true, false, false, 0.8},
	{"200B-viewer", "1 M lines of 200 B, one live viewer", false, true, true, false, 0.7},
	{"200B-batch", "same, the viewer reading lines events (`?batch=1`)", false, true, true, true, 0.7},
	{"shared-200B", "same through PostgreSQL + Redis, no viewer", true, true, false, false, 0.5},
	{"shared-200B-viewer", "same through PostgreSQL + Redis, one viewer", true, true, true, false, 0},
	{"shared-200B-batch", "same through PostgreSQL + Redis, the viewer reading lines events", true, true, true, true, 0},
}

// rowsRetain has the servers keep only the newest finished job, deleting
// the one before with its log, as --retain-jobs does on a server that runs
// for months: its page cache is then recycled. Keeping every run's archive
// instead grows the page cache by 200 MB a run, and on this VM page cache
// beyond about 0.5 GB of fresh memory costs the writer 16× the CPU (dd:
// 0.04 s per 200 MB written and deleted, 0.70 s per 200 MB kept), so the
// rows run late in the table paid for the archives of the rows before
// them. waitRetained keeps that deletion out of the next run's time.
var rowsRetain = []string{"--retain-jobs", "1", "--retain-interval", "100ms"}

// rowRuns is how often each row runs per iteration: its best is reported,
// as the limit's is (best of 3), so that one row's bad luck on a shared
// machine is not set against the limit's best; every run's ratio is shown.
const rowRuns = 3

// ingestRowRun sums one row's measurements over the iterations: each
// iteration's best of rowRuns (with that run's CPU figures).
type ingestRowRun struct {
	job       int64         // the run's job
	dur       time.Duration // POST → job done, or POST → end
	serverCPU time.Duration // during dur
	viewerCPU time.Duration
	afterCPU  time.Duration // the server's after it: the end-of-job check
	afterWall time.Duration
	wire      wireRun         // viewer rows: the SSE bytes alone
	both      wireRun         // viewer rows: the bare read and the SSE bytes at once
	all       []time.Duration // every run's dur, all iterations
}

// BenchmarkIngestRows prints issue 11's ingest rows, each beside the bare
// read of the same command in the same run: x/crypto/ssh with stdout split
// into lines by a bufio.Scanner, dial → exit, best of 3.
func BenchmarkIngestRows(b *testing.B) {
	bin := gafferBinary(b)
	s := sshtest.Start(b, sshtest.Options{Hosts: 1})
	var env []string
	profile := os.Getenv(cpuProfileVar)
	if profile != "" {
		env = []string{"GAFFER_CPUPROFILE=" + profile}
	}
	emb := startServerEnv(b, env, bin, writeInventory(b, s, []string{hostName}, ""), s.KnownHosts, rowsRetain...)
	shared := startSharedServer(b, bin, s, rowsRetain...)

	var bareSeq, bareWide time.Duration
	var seqBytes, wideBytes int64
	runs := make([]ingestRowRun, len(ingestRowSpecs))
	var wire wireEvents
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var d time.Duration
		d, seqBytes = bareScanBest(b, s, rowsSeqCommand, rowsSeqLines)
		bareSeq += d
		d, wideBytes = bareScanBest(b, s, rowsWideCommand, rowsWideLines)
		bareWide += d
		for k, spec := range ingestRowSpecs {
			if !rowWanted(spec.key) {
				continue
			}
			srv := emb
			if spec.shared {
				srv = shared.server
			}
			command, lines, width, size := rowsSeqCommand, int64(rowsSeqLines), 0, seqBytes
			if spec.wide {
				command, lines, width, size = rowsWideCommand, rowsWideLines, rowsWideWidth, wideBytes
			}
			r := ingestRowRun{dur: time.Duration(math.MaxInt64)}
			for range rowRuns {
				ri := ingestRow(b, srv, command, lines, width, size, spec)
				b.StopTimer()
				srv.waitRetained(b, ri.job)
				b.StartTimer()
				runs[k].all = append(runs[k].all, ri.dur)
				if ri.dur < r.dur {
					r = ri
				}
			}
			runs[k].dur += r.dur
			runs[k].serverCPU += r.serverCPU
			runs[k].viewerCPU += r.viewerCPU
			runs[k].afterCPU += r.afterCPU
			runs[k].afterWall += r.afterWall
			if spec.viewer {
				b.StopTimer()
				events := wire.get(lines, width, spec.batch)
				b.StartTimer()
				w := wireBest(b, events, lines, width, nil)
				runs[k].wire.dur += w.dur
				runs[k].wire.cpu += w.cpu
				runs[k].wire.bytes = w.bytes
				w = wireBest(b, events, lines, width, func() { bareScan(b, s, command, lines) })
				runs[k].both.dur += w.dur
				runs[k].both.cpu += w.cpu
			}
		}
	}
	b.StopTimer()
	wire.free()

	n := float64(b.N)
	seqLPS := float64(rowsSeqLines) * n / bareSeq.Seconds()
	wideMBs := float64(wideBytes) * n / mb / bareWide.Seconds()
	b.ReportMetric(seqLPS, "bare-seq-lines/s")
	b.ReportMetric(wideMBs, "bare-200B-MB/s")
	var table strings.Builder
	fmt.Fprintf(&table, "issue 11 ingest rows (per run; Gaffer: best of %d, each run's ratio beside it; limit: bare x/crypto/ssh + bufio.Scanner, dial → exit, best of 3, this run):\n", rowRuns)
	fmt.Fprintf(&table, "| work | Gaffer | limit, same run | ratio | every run's ratio | target | server CPU during | server CPU after (end-of-job check) |\n|---|---|---|---|---|---|---|---|\n")
	for k, spec := range ingestRowSpecs {
		if !rowWanted(spec.key) {
			continue
		}
		r := runs[k]
		var gaffer, limit string
		var ratio float64
		bare := bareSeq
		if spec.wide {
			bare = bareWide
		}
		each := make([]string, len(r.all))
		for i, d := range r.all {
			each[i] = fmt.Sprintf("%.2f", bare.Seconds()/n/d.Seconds())
		}
		if spec.wide {
			rate := float64(wideBytes) * n / mb / r.dur.Seconds()
			ratio = rate / wideMBs
			gaffer = fmt.Sprintf("%.2f s — %.0f MB/s", r.dur.Seconds()/n, rate)
			limit = fmt.Sprintf("%.2f s — %.0f MB/s", bareWide.Seconds()/n, wideMBs)
			b.ReportMetric(rate, spec.key+"-MB/s")
		} else {
			rate := float64(rowsSeqLines) * n / r.dur.Seconds()
			ratio = rate / seqLPS
			gaffer = fmt.Sprintf("%.2f s — %.2f M lines/s", r.dur.Seconds()/n, rate/1e6)
			limit = fmt.Sprintf("%.2f s — %.1f M lines/s", bareSeq.Seconds()/n, seqLPS/1e6)
			b.ReportMetric(rate, spec.key+"-lines/s")
		}
		b.ReportMetric(ratio, spec.key+"-ratio")
		target := "–"
		if spec.target > 0 {
			target = fmt.Sprintf("≥ %.1f", spec.target)
		}
		cpu := fmt.Sprintf("%.2f s", r.serverCPU.Seconds()/n)
		if spec.viewer {
			cpu += fmt.Sprintf(" (viewer %.2f s)", r.viewerCPU.Seconds()/n)
		}
		fmt.Fprintf(&table, "| %s | %s | %s | **%.2f** | %s | %s | %s | %.2f s over %.1f s |\n",
			spec.name, gaffer, limit, ratio, strings.Join(each, ", "), target, cpu, r.afterCPU.Seconds()/n, r.afterWall.Seconds()/n)
	}
	wireHead := false
	for k, spec := range ingestRowSpecs {
		if !spec.viewer || !rowWanted(spec.key) {
			continue
		}
		if !wireHead {
			wireHead = true
			fmt.Fprintf(&table, "\nSSE bytes alone: the row's line events (batch rows: lines events, a run per 32 KiB of output) and `end`, "+
				"encoded before timing (gaffer.Record.AppendJSON, gaffer.JSONEncoder.AppendLines), "+
				"served by a bare net/http server on 127.0.0.1 in 64 KiB flushed writes → the same client "+
				"(readSSE + parseRecord or linesParser + the row's line check), request → `end`, best of 3, this run:\n")
		}
		r := runs[k]
		bare := bareSeq
		if spec.wide {
			bare = bareWide
		}
		wireS := r.wire.dur.Seconds() / n
		fmt.Fprintf(&table, "- %s: SSE bytes alone, bare net/http → same client: %.2f s for %.0f MB (%.0f MB/s; CPU of client + bare server %.2f s); "+
			"the row's time is %.2f× that; the ratio the format and client alone allow: %.2f\n",
			spec.key, wireS, float64(r.wire.bytes)/mb, float64(r.wire.bytes)/mb/wireS, r.wire.cpu.Seconds()/n,
			r.dur.Seconds()/r.wire.dur.Seconds(), bare.Seconds()/r.wire.dur.Seconds())
		b.ReportMetric(wireS, spec.key+"-wire-s")
		b.ReportMetric(bare.Seconds()/r.wire.dur.Seconds(), spec.key+"-wire-ratio")
		fmt.Fprintf(&table, "  and the bare read of the row's command while those bytes go out, at once on this machine: %.2f s (CPU of this process %.2f s; "+
			"sshd's besides); the row's time is %.2f× that; the ratio a server costing nothing would reach: %.2f\n",
			r.both.dur.Seconds()/n, r.both.cpu.Seconds()/n, r.dur.Seconds()/r.both.dur.Seconds(), bare.Seconds()/r.both.dur.Seconds())
		b.ReportMetric(bare.Seconds()/r.both.dur.Seconds(), spec.key+"-both-ratio")
	}
	b.Log(table.String())
	if profile != "" {
		emb.stop() // writes the profile
		b.Logf("CPU profile of the embedded server (all its rows): %s (go tool pprof -top %s)", profile, profile)
	}
}

// wireRun is one viewer row's bound: the SSE bytes alone.
type wireRun struct {
	dur   time.Duration // request → end, best of 3
	cpu   time.Duration // this process (client and bare server) during that best
	bytes int64         // the SSE stream
}

// wireEvents holds the SSE stream of one kind of row (seq or 200 B),
// encoded once and kept for the next row of the same kind.
type wireEvents struct {
	lines  int64
	width  int
	batch  bool
	events []byte
}

// wireRunBytes is how much output a lines event of the wire bound holds:
// what one read of the SSH channel brings the server (a 32 KiB packet),
// whose lines share their ts and so one event.
const wireRunBytes = 32 << 10

// get returns the SSE stream a viewer of a job printing lines lines of
// width (0: seq's numbers) reads: the line events as the server writes them
// (web's appendLineEvent: id, event, data of gaffer.Record.AppendJSON; ts
// fixed, host hostName, stream stdout), or with batch its lines events
// (web's appendLinesEvents: event, data of gaffer.JSONEncoder.AppendLines,
// id; a run per wireRunBytes of output), and the end event.
func (w *wireEvents) get(lines int64, width int, batch bool) []byte {
	if w.events != nil && w.lines == lines && w.width == width && w.batch == batch {
		return w.events
	}
	w.free()
	rec := gaffer.Record{
		TS:     time.Date(2026, 12, 2, 5, 40, 22, 123456789, time.UTC),
		Host:   hostName,
		Stream: gaffer.Stdout,
		NL:     true,
	}
	text := make([]byte, 0, max(width, 20))
	setText := func(seq int64) {
		text = strconv.AppendInt(text[:0], seq, 10)
		if pad := width - len(text); pad > 0 {
			text = append(text, make([]byte, pad)...)
			copy(text[pad:], text)
			for i := range pad {
				text[i] = '0'
			}
		}
	}
	event := func(b []byte, seq int64) []byte {
		setText(seq)
		rec.Seq, rec.Data = seq, text
		b = append(b, "id: "...)
		b = strconv.AppendInt(b, seq, 10)
		b = append(b, "\nevent: line\ndata: "...)
		b = rec.AppendJSON(b)
		return append(b, "\n\n"...)
	}
	const end = "event: end\ndata: {\"status\":\"succeeded\"}\n\n"
	var b []byte
	if batch {
		var enc gaffer.JSONEncoder
		var run []gaffer.Record
		var data []byte // the run's texts, each ended by '\n'
		first := int64(1)
		flush := func(next int64) {
			run = run[:0]
			for off, seq := 0, first; off < len(data); seq++ {
				k := bytes.IndexByte(data[off:], '\n')
				r := rec
				r.Seq, r.Data = seq, data[off:off+k]
				run = append(run, r)
				off += k + 1
			}
			b = append(b, "event: lines\ndata: "...)
			var n int
			if b, n = enc.AppendLines(b, run); n != len(run) {
				panic("a wire run is not one lines event")
			}
			b = append(b, "\nid: "...)
			b = strconv.AppendInt(b, run[n-1].Seq, 10)
			b = append(b, "\n\n"...)
			data, first = data[:0], next
		}
		for seq := int64(1); seq <= lines; seq++ {
			setText(seq)
			if len(data)+len(text)+1 > wireRunBytes {
				flush(seq)
			}
			data = append(data, text...)
			data = append(data, '\n')
		}
		flush(lines + 1)
	} else {
		// The last event is the longest: one allocation.
		b = make([]byte, 0, int64(len(event(nil, lines)))*lines+int64(len(end)))
		for seq := int64(1); seq <= lines; seq++ {
			b = event(b, seq)
		}
	}
	w.lines, w.width, w.batch, w.events = lines, width, batch, append(b, end...)
	return w.events
}

// free drops the stream and gives its memory back.
func (w *wireEvents) free() {
	if w.events != nil {
		w.events = nil
		debug.FreeOSMemory()
	}
}

// wireBest serves events from a bare net/http server on 127.0.0.1, in
// 64 KiB writes each flushed, to the client the viewer rows use (readSSE,
// parseRecord, ingestCheck) three times, and returns the best time
// (request → end). With alongside, that runs meanwhile (the bare read of
// the row's command) and the time is until both are done: what a viewer
// row costs the machine with a server that costs nothing.
func wireBest(b *testing.B, events []byte, lines int64, width int, alongside func()) wireRun {
	b.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		f := w.(http.Flusher)
		for p := events; len(p) > 0; {
			n := min(len(p), 64<<10)
			if _, err := w.Write(p[:n]); err != nil {
				return
			}
			f.Flush()
			p = p[n:]
		}
	}))
	defer hs.Close()
	best := wireRun{dur: time.Duration(math.MaxInt64), bytes: int64(len(events))}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), rowTimeout)
		v := &ingestCheck{next: 1, width: width}
		self0 := selfCPU()
		t0 := time.Now()
		type read struct {
			res sseResult
			err error
		}
		done := make(chan read, 1)
		go func() {
			res, err := func() (sseResult, error) {
				req, err := http.NewRequestWithContext(ctx, "GET", hs.URL+"/api/jobs/1/log", nil)
				if err != nil {
					return sseResult{}, err
				}
				req.Header.Set("Accept", "text/event-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return sseResult{}, err
				}
				defer resp.Body.Close()
				return readSSE(ctx, resp.Body, func(rec record, _ time.Time) error { v.add(rec); return nil })
			}()
			done <- read{res, err}
		}()
		var alongEnd time.Time
		if alongside != nil {
			alongside()
			alongEnd = time.Now()
		}
		rd := <-done
		res, err := rd.res, rd.err
		cpu := selfCPU() - self0
		cancel()
		if err != nil {
			b.Fatalf("SSE bytes alone: %v (%d stdout lines seen; %s)", err, v.stdout, v.problems())
		}
		if v.stdout != lines || len(v.errs) > 0 || res.EndStatus != "succeeded" {
			b.Fatalf("SSE bytes alone: %d stdout lines of %d, end %q: %s", v.stdout, lines, res.EndStatus, v.problems())
		}
		end := res.End
		if alongEnd.After(end) {
			end = alongEnd
		}
		if d := end.Sub(t0); d < best.dur {
			best.dur, best.cpu = d, cpu
		}
	}
	return best
}

// bareScanBest runs command through a bare x/crypto/ssh session, its stdout
// split into lines by a bufio.Scanner, three times, and returns the best
// time (dial → exit) and the bytes read.
func bareScanBest(b *testing.B, s *sshtest.Server, command string, lines int64) (time.Duration, int64) {
	b.Helper()
	best := time.Duration(math.MaxInt64)
	var size int64
	for range 3 {
		t0 := time.Now()
		size = bareScan(b, s, command, lines)
		best = min(best, time.Since(t0))
	}
	return best, size
}

// bareScan runs command through a bare x/crypto/ssh session, its stdout
// split into lines by a bufio.Scanner, and returns the bytes read.
func bareScan(b *testing.B, s *sshtest.Server, command string, lines int64) int64 {
	b.Helper()
	var n, bytes int64
	sshRun(b, s, command, func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			n++
			bytes += int64(len(sc.Bytes())) + 1
		}
		return sc.Err()
	})
	if n != lines {
		b.Fatalf("bare ssh %q: %d lines, want %d", command, n, lines)
	}
	return bytes
}

// ingestRow POSTs command on srv and times it to the job done (finished_at
// set; no viewer) or to one SSE viewer's `end` event (every line checked),
// then checks the archived log's summary and waits for the server to go
// quiet, counting the CPU its after-work (the end-of-job check) takes.
func ingestRow(b *testing.B, srv *server, command string, lines int64, width int, size int64, spec ingestRowSpec) ingestRowRun {
	b.Helper()
	var r ingestRowRun
	cpu0, self0 := procCPU(srv.PID), selfCPU()
	t0 := time.Now()
	j := srv.startJob(b, command)
	r.job = j.ID
	if spec.viewer {
		ctx, cancel := context.WithTimeout(context.Background(), rowTimeout)
		v := &ingestCheck{next: 1, width: width}
		query := ""
		if spec.batch {
			query = "batch=1"
		}
		res, err := srv.followQuery(ctx, j.ID, query, func(rec record, _ time.Time) error { v.add(rec); return nil }, nil)
		cancel()
		if err != nil {
			b.Fatalf("viewer of job %d: %v (%d stdout lines seen; %s)\nserver log:\n%s", j.ID, err, v.stdout, v.problems(), srv.log())
		}
		r.dur = res.End.Sub(t0)
		if v.stdout != lines || len(v.errs) > 0 {
			b.Fatalf("viewer of job %d saw %d stdout lines of %d: %s", j.ID, v.stdout, lines, v.problems())
		}
		if res.EndStatus != "succeeded" {
			b.Fatalf("job %d ended %q\nserver log:\n%s", j.ID, res.EndStatus, srv.log())
		}
	} else {
		// Polled often: the finished_at of a half-second job.
		deadline := time.Now().Add(rowTimeout)
		for {
			got := srv.job(b, j.ID)
			if got.Status != "queued" && got.Status != "running" && got.FinishedAt != nil {
				r.dur = time.Since(t0)
				if got.Status != "succeeded" {
					b.Fatalf("job %d ended %s: %+v\nserver log:\n%s", j.ID, got.Status, got.Runs, srv.log())
				}
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("job %d still %s after %v", j.ID, got.Status, rowTimeout)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	cpu1 := procCPU(srv.PID)
	r.serverCPU = cpu1 - cpu0
	r.viewerCPU = selfCPU() - self0

	// The server's work after the job (the end-of-job archive check), until
	// it is quiet: no more than one tick of CPU in 200 ms.
	t1 := time.Now()
	last := cpu1
	for deadline := t1.Add(2 * time.Minute); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		c := procCPU(srv.PID)
		if c-last <= 10*time.Millisecond {
			r.afterCPU = last - cpu1
			r.afterWall = time.Since(t1) - 200*time.Millisecond
			break
		}
		last = c
	}

	sum := srv.summary(b, j.ID)
	var recs, bytes int64
	for _, st := range sum.Streams {
		if st.Stream == "stdout" {
			recs, bytes = recs+st.Records, bytes+st.Bytes
		}
	}
	// Records: more than lines if a line was cut by a pause in the output
	// (see ingestCheck). Bytes: without the newlines.
	if !sum.Complete || recs < lines || bytes != size-lines {
		b.Fatalf("job %d: archived log complete=%v with %d stdout records of %d bytes; want %d lines of %d bytes",
			j.ID, sum.Complete, recs, bytes, lines, size-lines)
	}
	return r
}

// waitRetained waits until the server, which keeps only its newest finished
// job (rowsRetain), has deleted the one before job id.
func (s *server) waitRetained(b *testing.B, id int64) {
	b.Helper()
	if s.lastJob == 0 {
		s.lastJob = id
		return
	}
	prev := s.lastJob
	s.lastJob = id
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.request(context.Background(), "GET", fmt.Sprintf("/api/jobs/%d", prev), nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("job %d not deleted 30 s after job %d finished (--retain-jobs 1): %s", prev, id, resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logSummary is GET /api/jobs/{id}/log/summary.
type logSummary struct {
	LastSeq  int64 `json:"last_seq"`
	Complete bool  `json:"complete"`
	Streams  []struct {
		Host    string `json:"host"`
		Stream  string `json:"stream"`
		Records int64  `json:"records"`
		Bytes   int64  `json:"bytes"`
	} `json:"streams"`
}

func (s *server) summary(b *testing.B, id int64) logSummary {
	b.Helper()
	resp, err := s.request(context.Background(), "GET", fmt.Sprintf("/api/jobs/%d/log/summary", id), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var sum logSummary
	if err := json.Unmarshal(data, &sum); err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET /api/jobs/%d/log/summary: %s %v: %s", id, resp.Status, err, data)
	}
	return sum
}
