package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// ---------------------------------------------------------------- BigLog

const (
	bigLines   = 10_000_000 // h1's numbers, after its needle line
	bigH2Lines = 1_000      // h2's lines, all near the start
	bigNeedle  = "needle-first"
	cliLines   = 5_000_000
	readTries  = 21 // per read form; the median is reported
	bestOf     = 3  // search, grep, CLI and curl: the best is reported
	// bigReadCap bounds a range read's body: 1000 records are ~100 KB; a
	// body past this means the server ignored the range and sent the log.
	bigReadCap = 8 << 20
)

// BenchmarkBigLog: one finished job of 10 M lines, read, searched and shown
// without reading it from its start. Sub-benchmarks: reads (range reads near
// the start, middle and end, each the median of several), search (the whole
// log searched on the server against grep over the same bytes), cli (gaffer
// logs against curl on a 5 M-line job) and page (the job page in Chromium).
// Run one with -bench BigLog/search; the 10 M-line job is made once, by the
// first sub-benchmark that needs it.
func BenchmarkBigLog(b *testing.B) {
	bin := gafferBinary(b)
	s := sshtest.Start(b, sshtest.Options{Hosts: 2})
	srv := startServer(b, bin, writeInventory(b, s, []string{"h1", "h2"}, ""), s.KnownHosts)
	logLoad(b, "start")
	var once sync.Once
	var big *bigLog
	// The sub-benchmark that makes the job fails if that fails; the next
	// one finds big nil and fails too.
	get := func(sb *testing.B) *bigLog {
		once.Do(func() { big = makeBigLog(sb, b, s, srv) })
		if big == nil {
			sb.Fatal("the 10 M-line job could not be made (see the first sub-benchmark)")
		}
		return big
	}
	b.Run("reads", func(sb *testing.B) { benchBigReads(sb, get(sb)) })
	b.Run("search", func(sb *testing.B) { benchBigSearch(sb, get(sb)) })
	b.Run("cli", func(sb *testing.B) { benchBigCLI(sb, bin, srv) })
	b.Run("page", func(sb *testing.B) { benchBigPage(sb, get(sb)) })
	logLoad(b, "end")
}

// logLoad logs the load average: the figures depend on what else runs.
func logLoad(b *testing.B, when string) {
	data, _ := os.ReadFile("/proc/loadavg")
	b.Logf("load average at %s: %s", when, strings.TrimSpace(string(data)))
}

// bigLog is the finished 10 M-line job and what is known of it.
type bigLog struct {
	srv       *server
	id        int64
	lastSeq   int64
	needleSeq int64   // the seq of h1's first line, bigNeedle
	rawPath   string  // h1's stdout, raw, as the server gives it
	rawBytes  int64   // its size
	summary   summary // as read once the job was done
}

// summary is the part of GET /log/summary the benchmark checks.
type summary struct {
	LastSeq  int64 `json:"last_seq"`
	Complete bool  `json:"complete"`
	Streams  []struct {
		Host    string `json:"host"`
		Stream  string `json:"stream"`
		Records int64  `json:"records"`
		Bytes   int64  `json:"bytes"`
	} `json:"streams"`
}

// makeBigLog runs the job on h1 and h2 and waits for it to finish: h1
// prints bigNeedle then 1..10 000 000, h2 (told apart by the address sshd
// answered on) 1000 lines of its own, all near the start of the log, the
// sparse host a filtered read near the end has to find. Failures go to sb;
// files live as long as owner.
func makeBigLog(sb, owner *testing.B, s *sshtest.Server, srv *server) *bigLog {
	sb.Helper()
	h2IP, _, _ := net.SplitHostPort(s.Addrs[1])
	// The needle is quoted in two halves: the command line itself is in
	// the log (the system line "running on h1 (…): …") and must not match.
	half := len(bigNeedle) / 2
	command := fmt.Sprintf(`case "$SSH_CONNECTION" in *" %s "*) seq -f 'h2-%%g' 1 %d ;; *) echo %s"%s"; seq 1 %d ;; esac`,
		h2IP, bigH2Lines, bigNeedle[:half], bigNeedle[half:], bigLines)
	t0 := time.Now()
	j := srv.startJobOn(sb, command, "h1", "h2")
	fin := srv.waitJob(sb, j.ID, 20*time.Minute)
	if fin.Status != "succeeded" {
		sb.Fatalf("job %d ended %s: %+v\nserver log:\n%s", j.ID, fin.Status, fin.Runs, srv.log())
	}
	big := &bigLog{srv: srv, id: j.ID}
	sb.Logf("10 M-line job %d (%q on h1 and h2): POST → finished %.1f s, run %.1f s; archive %.0f MB on disk",
		j.ID, command, time.Since(t0).Seconds(), fin.runDuration().Seconds(), float64(dirSize(srv.DataDir))/mb)

	body, err := srv.getBody(context.Background(), big.path("/log/summary"), "", 1<<20)
	if err != nil {
		sb.Fatal(err)
	}
	if err := json.Unmarshal(body, &big.summary); err != nil {
		sb.Fatalf("summary: %v: %s", err, body)
	}
	big.lastSeq = big.summary.LastSeq
	counts := map[string]int64{}
	for _, st := range big.summary.Streams {
		counts[st.Host+"/"+st.Stream] = st.Records
	}
	if !big.summary.Complete || counts["h1/stdout"] != bigLines+1 || counts["h2/stdout"] != bigH2Lines {
		sb.Fatalf("summary of job %d: %s; want complete, h1/stdout %d records, h2/stdout %d", j.ID, body, bigLines+1, bigH2Lines)
	}

	// The needle's seq: h1's first stdout record.
	recs, err := srv.getRecords(context.Background(), big.path("/log?host=h1&stream=stdout&limit=1"))
	if err != nil {
		sb.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Text != bigNeedle {
		sb.Fatalf("first h1 stdout record: %+v, want %q", recs, bigNeedle)
	}
	big.needleSeq = recs[0].Seq

	// h1's stdout as raw bytes, the input of grep; checked byte for byte.
	big.rawPath = filepath.Join(owner.TempDir(), "h1-stdout.raw")
	t0 = time.Now()
	if err := srv.download(context.Background(), big.path("/log?format=raw&host=h1&stream=stdout"), "", big.rawPath); err != nil {
		sb.Fatal(err)
	}
	d := time.Since(t0)
	if err := checkBigRaw(big.rawPath); err != nil {
		sb.Fatalf("raw log of job %d: %v", j.ID, err)
	}
	fi, _ := os.Stat(big.rawPath)
	big.rawBytes = fi.Size()
	sb.Logf("10 M-line job %d: last seq %d, needle at seq %d; h1's stdout raw: %.1f MB in %.2f s (%.0f MB/s)",
		j.ID, big.lastSeq, big.needleSeq, float64(big.rawBytes)/mb, d.Seconds(), float64(big.rawBytes)/mb/d.Seconds())
	return big
}

func (g *bigLog) path(suffix string) string { return fmt.Sprintf("/api/jobs/%d%s", g.id, suffix) }

// checkBigRaw compares the file with what h1 printed.
func checkBigRaw(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	want := make([]byte, 0, 32)
	for i := int64(0); i <= bigLines; i++ {
		want = want[:0]
		if i == 0 {
			want = append(want, bigNeedle...)
		} else {
			want = strconv.AppendInt(want, i, 10)
		}
		want = append(want, '\n')
		got, err := r.ReadSlice('\n')
		if !bytes.Equal(got, want) {
			return fmt.Errorf("line %d is %q, want %q (%v)", i+1, got, want, err)
		}
	}
	if extra, _ := r.Peek(1); len(extra) > 0 {
		return errors.New("bytes after the last line")
	}
	return nil
}

// ---------------------------------------------------------------- reads

// bigRecord is a record of the NDJSON log.
type bigRecord struct {
	Seq    int64     `json:"seq"`
	TS     time.Time `json:"ts"`
	Host   string    `json:"host"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// readCase is one read form: its query and what a right answer is.
type readCase struct {
	name, path string
	check      func(body []byte) error
}

// benchBigReads times each read form readTries times, round-robin so that
// a burst of load falls on all alike, and reports the medians.
func benchBigReads(b *testing.B, g *bigLog) {
	ctx := context.Background()
	last, mid := g.lastSeq, g.lastSeq/2
	// The time of the middle record, for ?since.
	recs, err := g.srv.getRecords(ctx, g.path(fmt.Sprintf("/log?after=%d&limit=1", mid-1)))
	if err != nil || len(recs) != 1 {
		b.Fatalf("record %d: %v %+v", mid, err, recs)
	}
	midTS := recs[0].TS
	cases := []readCase{
		{"job", g.path(""), nil}, // a request that reads no log: the floor
		{"start", g.path("/log?after=0&limit=1000"), seqRange(1, 1000)},
		{"1pct", g.path(fmt.Sprintf("/log?after=%d&limit=1000", last/100)), seqRange(last/100+1, last/100+1000)},
		{"mid", g.path(fmt.Sprintf("/log?after=%d&limit=1000", mid)), seqRange(mid+1, mid+1000)},
		{"end", g.path(fmt.Sprintf("/log?after=%d&limit=1000", last-1000)), seqRange(last-999, last)},
		{"tail", g.path("/log?tail=1000"), seqRange(last-999, last)},
		{"before-mid", g.path(fmt.Sprintf("/log?before=%d&limit=1000", mid)), seqRange(mid-1000, mid-1)},
		{"since-mid", g.path("/log?limit=1000&since=" + url.QueryEscape(midTS.Format(time.RFC3339Nano))), func(body []byte) error {
			rs, err := parseRecords(body)
			if err != nil {
				return err
			}
			if len(rs) != 1000 || rs[0].Seq > mid || rs[0].TS.Before(midTS) {
				return fmt.Errorf("%d records from seq %d; want 1000 from seq <= %d stamped at or after %s", len(rs), firstSeq(rs), mid, midTS.Format(time.RFC3339Nano))
			}
			return consecutive(rs)
		}},
		{"host-end", g.path(fmt.Sprintf("/log?host=h1&after=%d&limit=1000", last-1000)), hostOnly("h1", 1, 1000)},
		{"host-tail", g.path("/log?host=h1&tail=1000"), hostOnly("h1", 1000, 1000)},
		// h2's records all lie in the first 0.1 % of the log.
		{"sparse-host-tail", g.path("/log?host=h2&tail=100"), hostOnly("h2", 100, 100)},
		{"summary", g.path("/log/summary"), func(body []byte) error {
			var s summary
			if err := json.Unmarshal(body, &s); err != nil || s.LastSeq != last || !s.Complete {
				return fmt.Errorf("summary %s (%v); want last_seq %d, complete", body, err, last)
			}
			return nil
		}},
	}
	times := make([][]time.Duration, len(cases))
	for i := 0; i < b.N; i++ {
		for range readTries {
			for k, c := range cases {
				t0 := time.Now()
				body, err := g.srv.getBody(ctx, c.path, "application/x-ndjson", bigReadCap)
				d := time.Since(t0)
				if err == nil && c.check != nil {
					err = c.check(body)
				}
				if err != nil {
					b.Fatalf("read %s (GET %s): %v", c.name, c.path, err)
				}
				times[k] = append(times[k], d)
			}
		}
	}
	med := map[string]time.Duration{}
	var lines []string
	for k, c := range cases {
		m := median(times[k])
		med[c.name] = m
		b.ReportMetric(ms(m), c.name+"-ms")
		lines = append(lines, fmt.Sprintf("  %-17s %7.2f ms (min %.2f, max %.2f)  GET %s",
			c.name, ms(m), ms(slices.Min(times[k])), ms(slices.Max(times[k])), c.path))
	}
	b.ReportMetric(float64(med["end"])/float64(med["start"]), "end/start")
	b.Logf("reads of job %d (last seq %d), median of %d each, whole response read, keep-alive connection:\n%s\nnear the end / near the start: %.2f×",
		g.id, last, readTries*b.N, strings.Join(lines, "\n"), float64(med["end"])/float64(med["start"]))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func parseRecords(body []byte) ([]bigRecord, error) {
	var rs []bigRecord
	for line := range bytes.Lines(body) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r bigRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%v: %.200s", err, line)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func firstSeq(rs []bigRecord) int64 {
	if len(rs) == 0 {
		return 0
	}
	return rs[0].Seq
}

func consecutive(rs []bigRecord) error {
	for i := 1; i < len(rs); i++ {
		if rs[i].Seq != rs[i-1].Seq+1 {
			return fmt.Errorf("seq %d after seq %d", rs[i].Seq, rs[i-1].Seq)
		}
	}
	return nil
}

// seqRange checks that the answer is exactly the records from..to.
func seqRange(from, to int64) func([]byte) error {
	return func(body []byte) error {
		rs, err := parseRecords(body)
		if err != nil {
			return err
		}
		if int64(len(rs)) != to-from+1 || rs[0].Seq != from || rs[len(rs)-1].Seq != to {
			return fmt.Errorf("%d records, seq %d..; want seq %d..%d", len(rs), firstSeq(rs), from, to)
		}
		return consecutive(rs)
	}
}

// hostOnly checks that the answer holds between lo and hi records, in seq
// order, all of host.
func hostOnly(host string, lo, hi int) func([]byte) error {
	return func(body []byte) error {
		rs, err := parseRecords(body)
		if err != nil {
			return err
		}
		if len(rs) < lo || len(rs) > hi {
			return fmt.Errorf("%d records, want %d to %d", len(rs), lo, hi)
		}
		for i, r := range rs {
			if r.Host != host {
				return fmt.Errorf("record %d is of host %q, want only %q", r.Seq, r.Host, host)
			}
			if i > 0 && r.Seq <= rs[i-1].Seq {
				return fmt.Errorf("seq %d after seq %d", r.Seq, rs[i-1].Seq)
			}
		}
		return nil
	}
}

// ---------------------------------------------------------------- search

// searchCase is one search on the server and the grep that counts the same
// lines in h1's raw stdout.
type searchCase struct {
	name  string
	query string // of /log/search
	grep  []string
}

var bigSearches = []searchCase{
	{"substring", "q=" + bigNeedle + "&case=1", []string{"-cF", bigNeedle}},
	{"nocase", "q=" + strings.ToUpper(bigNeedle), []string{"-ciF", strings.ToUpper(bigNeedle)}},
	// No literal prefix; the archive still looks first for "-first",
	// which every match contains (a log of numbers has none elsewhere).
	{"regex", "q=" + url.QueryEscape("[a-z]+-first$") + "&regex=1&case=1", []string{"-cE", "[a-z]+-first$"}},
}

// benchBigSearch times each search (every page of it, until done) against
// grep -c over the raw bytes, best of bestOf each, alternating.
func benchBigSearch(b *testing.B, g *bigLog) {
	ctx := context.Background()
	var lines []string
	for _, c := range bigSearches {
		bestS, bestG := time.Duration(1<<62), time.Duration(1<<62)
		var first time.Duration
		var requests int
		for i := 0; i < b.N; i++ {
			for range bestOf {
				r, err := g.search(ctx, c.query)
				if err != nil {
					b.Fatalf("search %s: %v", c.query, err)
				}
				if len(r.matches) != 1 || r.matches[0].Seq != g.needleSeq || r.matches[0].Text != bigNeedle {
					b.Fatalf("search %s: %d matches (%+v), want 1: seq %d %q", c.query, len(r.matches), r.matches[:min(3, len(r.matches))], g.needleSeq, bigNeedle)
				}
				if r.dur < bestS {
					bestS, first, requests = r.dur, r.first, r.requests
				}
				d, n := grepCount(b, c.grep, g.rawPath)
				if n != 1 {
					b.Fatalf("grep %s: %d lines, want 1", strings.Join(c.grep, " "), n)
				}
				bestG = min(bestG, d)
			}
		}
		mbs := float64(g.rawBytes) / mb / bestS.Seconds()
		gmbs := float64(g.rawBytes) / mb / bestG.Seconds()
		b.ReportMetric(mbs, c.name+"-MB/s")
		b.ReportMetric(gmbs, "grep-"+c.name+"-MB/s")
		b.ReportMetric(bestS.Seconds()/bestG.Seconds(), c.name+"-x-grep")
		b.ReportMetric(ms(first), c.name+"-first-match-ms")
		lines = append(lines, fmt.Sprintf("  %-9s server %6.2f s = %6.1f MB/s (%d request(s), first match after %.0f ms)  grep %s: %5.2f s = %7.1f MB/s  → %.1f× grep's time",
			c.name, bestS.Seconds(), mbs, requests, ms(first), strings.Join(c.grep, " "), bestG.Seconds(), gmbs, bestS.Seconds()/bestG.Seconds()))
	}
	b.Logf("search of job %d (%d records; %.1f MB of h1 stdout, which grep reads from a file in the page cache, LC_ALL=C.UTF-8), best of %d:\n%s",
		g.id, g.lastSeq, float64(g.rawBytes)/mb, bestOf*b.N, strings.Join(lines, "\n"))
}

// searchRun is one whole search: every page until done.
type searchRun struct {
	matches  []bigRecord
	dur      time.Duration // first request → last trailer
	first    time.Duration // first request → first match read
	requests int
}

// search GETs /log/search with query, then again from scanned_to while the
// trailer says it is not done, as a client pages through a search.
func (g *bigLog) search(ctx context.Context, query string) (searchRun, error) {
	var r searchRun
	var after int64
	t0 := time.Now()
	for {
		r.requests++
		path := g.path("/log/search?" + query)
		if after > 0 {
			path += fmt.Sprintf("&after=%d", after)
		}
		resp, err := g.srv.request(ctx, "GET", path, nil)
		if err != nil {
			return r, err
		}
		if resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return r, fmt.Errorf("GET %s: %s %s", path, resp.Status, data)
		}
		var trailer struct {
			Done      *bool `json:"done"`
			ScannedTo int64 `json:"scanned_to"`
			Matches   int   `json:"matches"`
		}
		var got int
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if bytes.HasPrefix(line, []byte(`{"error"`)) {
				resp.Body.Close()
				return r, fmt.Errorf("GET %s: failed midway: %s", path, line)
			}
			if bytes.HasPrefix(line, []byte(`{"done"`)) {
				if err := json.Unmarshal(line, &trailer); err != nil {
					resp.Body.Close()
					return r, fmt.Errorf("trailer %s: %v", line, err)
				}
				continue
			}
			var rec bigRecord
			if err := json.Unmarshal(line, &rec); err != nil {
				resp.Body.Close()
				return r, fmt.Errorf("%s: %v", line, err)
			}
			if len(r.matches) == 0 {
				r.first = time.Since(t0)
			}
			got++
			r.matches = append(r.matches, rec)
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil {
			return r, err
		}
		if trailer.Done == nil {
			return r, fmt.Errorf("GET %s: no trailer", path)
		}
		if trailer.Matches != got {
			return r, fmt.Errorf("GET %s: trailer says %d matches, %d sent", path, trailer.Matches, got)
		}
		if *trailer.Done {
			r.dur = time.Since(t0)
			return r, nil
		}
		if trailer.ScannedTo <= after {
			return r, fmt.Errorf("GET %s: not done, yet scanned_to %d does not move on from %d", path, trailer.ScannedTo, after)
		}
		after = trailer.ScannedTo
	}
}

// grepCount runs grep with args on path (C.UTF-8: case folding as Go's
// regexp does it, by Unicode) and returns its wall time and count.
func grepCount(b *testing.B, args []string, path string) (time.Duration, int) {
	b.Helper()
	cmd := exec.Command("grep", append(slices.Clone(args), path)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	t0 := time.Now()
	out, err := cmd.Output()
	d := time.Since(t0)
	if err != nil {
		b.Fatalf("grep %s: %v", strings.Join(args, " "), err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		b.Fatalf("grep %s: %q", strings.Join(args, " "), out)
	}
	return d, n
}

// ---------------------------------------------------------------- cli

// benchBigCLI: `gaffer logs ID > file` (text and -o json) against curl of
// the NDJSON to a file, on a finished 5 M-line job, best of bestOf each,
// round-robin.
func benchBigCLI(b *testing.B, bin string, srv *server) {
	j := srv.startJobOn(b, fmt.Sprintf("seq 1 %d", cliLines), "h1")
	fin := srv.waitJob(b, j.ID, 10*time.Minute)
	if fin.Status != "succeeded" {
		b.Fatalf("job %d ended %s: %+v", j.ID, fin.Status, fin.Runs)
	}
	dir := b.TempDir()
	out := filepath.Join(dir, "out")
	id := strconv.FormatInt(j.ID, 10)
	tools := []struct {
		name string
		argv []string
	}{
		{"curl", []string{"curl", "-sS", "--fail-with-body", "-o", out, "-H", "Authorization: Bearer " + adminToken,
			"-H", "Accept: application/x-ndjson", srv.URL + "/api/jobs/" + id + "/log"}},
		{"cli-text", []string{bin, "logs", "--server", srv.URL, "--token", adminToken, id}},
		{"cli-json", []string{bin, "logs", "--server", srv.URL, "--token", adminToken, "-o", "json", id}},
	}
	var records int64
	best := make([]time.Duration, len(tools))
	cpu := make([]time.Duration, len(tools))
	size := make([]int64, len(tools))
	for k := range best {
		best[k] = 1 << 62
	}
	for i := 0; i < b.N; i++ {
		for round := range bestOf {
			// curl first (its line count is the reference), then each
			// round in another order, so that none always follows the same
			// tool.
			for j := range tools {
				k := (j + round) % len(tools)
				t := tools[k]
				d, c, err := runToFile(t.argv, out)
				if err != nil {
					b.Fatalf("%s: %v", strings.Join(t.argv, " "), err)
				}
				// NDJSON has a line per record (curl's is the reference),
				// text at least one per stdout line.
				n, sz := countLines(b, out)
				switch {
				case t.name == "curl" && n < cliLines:
					b.Fatalf("curl: %d NDJSON lines for a job of %d stdout lines", n, cliLines)
				case t.name == "curl" && records == 0:
					records = n
				case t.name == "curl" && n != records:
					b.Fatalf("curl: %d NDJSON lines, then %d", records, n)
				case t.name == "cli-json" && n != records:
					b.Fatalf("gaffer logs -o json: %d lines, curl %d", n, records)
				case n < cliLines:
					b.Fatalf("gaffer logs: %d lines for a job of %d stdout lines", n, cliLines)
				}
				if d < best[k] {
					best[k], cpu[k], size[k] = d, c, sz
				}
			}
		}
	}
	var lines []string
	for k, t := range tools {
		b.ReportMetric(best[k].Seconds(), t.name+"-s")
		ratio := best[k].Seconds() / best[0].Seconds()
		if k > 0 {
			b.ReportMetric(ratio, t.name+"-x-curl")
		}
		lines = append(lines, fmt.Sprintf("  %-8s %5.2f s (%.2f× curl), CPU %.2f s, %.1f MB written", t.name, best[k].Seconds(), ratio, cpu[k].Seconds(), float64(size[k])/mb))
	}
	b.Logf("job %d (%d lines, %d records) to a file, process start → exit, best of %d:\n%s", j.ID, cliLines, records, bestOf*b.N, strings.Join(lines, "\n"))
}

// runToFile runs argv with stdout to path and returns its wall time and CPU
// (user + system, from rusage). The last output is removed and written
// back first (sync), so that no run pays for the one before.
func runToFile(argv []string, path string) (time.Duration, time.Duration, error) {
	os.Remove(path)
	syscall.Sync()
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, stderr.Bytes())
	}
	var c time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		c = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return d, c, nil
}

func countLines(b *testing.B, path string) (int64, int64) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var cw countWriter
	if _, err := io.Copy(&cw, f); err != nil {
		b.Fatal(err)
	}
	return cw.lines, cw.bytes
}

// ---------------------------------------------------------------- HTTP

// startJobOn starts command on the named hosts.
func (s *server) startJobOn(b *testing.B, command string, hosts ...string) *job {
	b.Helper()
	body, _ := json.Marshal(map[string]any{"command": command, "hosts": hosts})
	resp, err := s.request(context.Background(), "POST", "/api/jobs", bytes.NewReader(body), "Content-Type", "application/json")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("POST /api/jobs: %s %s", resp.Status, data)
	}
	var j job
	if err := json.Unmarshal(data, &j); err != nil {
		b.Fatalf("POST /api/jobs: %v: %s", err, data)
	}
	return &j
}

// getBody GETs path (with Accept when not "") and reads the body, failing
// past max bytes.
func (s *server) getBody(ctx context.Context, path, accept string, max int64) ([]byte, error) {
	var hdr []string
	if accept != "" {
		hdr = []string{"Accept", accept}
	}
	resp, err := s.request(ctx, "GET", path, nil, hdr...)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %.500s", path, resp.Status, data)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("GET %s: answer longer than %d bytes (a parameter ignored?)", path, max)
	}
	return data, nil
}

// getRecords GETs path as NDJSON records.
func (s *server) getRecords(ctx context.Context, path string) ([]bigRecord, error) {
	body, err := s.getBody(ctx, path, "application/x-ndjson", bigReadCap)
	if err != nil {
		return nil, err
	}
	return parseRecords(body)
}

// download GETs path into the file at dst.
func (s *server) download(ctx context.Context, path, accept, dst string) error {
	var hdr []string
	if accept != "" {
		hdr = []string{"Accept", accept}
	}
	resp, err := s.request(ctx, "GET", path, nil, hdr...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s %s", path, resp.Status, data)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return f.Close()
}
