package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// Shared-mode fan-out and failover: two instances on one database, one
// Redis and one archive directory, as in the README's "Run several
// instances".

// startBenchRedis runs a private redis-server for one benchmark, so that its
// command counters hold nothing but the benchmark's own commands.
func startBenchRedis(b *testing.B) (url string, rc *goredis.Client) {
	b.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		b.Fatal("redis-server not found: run scripts/test, or apt-get install -y redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", b.TempDir(), "--maxclients", "10000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opt, _ := goredis.ParseURL(url)
	rc = goredis.NewClient(opt)
	b.Cleanup(func() { rc.Close() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if rc.Ping(context.Background()).Err() == nil {
			return url, rc
		}
		if time.Now().After(deadline) {
			b.Fatal("private redis-server did not start in 10 s")
		}
	}
}

// startSharedPair starts instances "a" and "b" of `gaffer serve` on one
// fresh database, the Redis at redisURL under a fresh prefix, and one
// archive directory.
func startSharedPair(b *testing.B, bin string, s *sshtest.Server, redisURL string, extra ...string) (a, bb *server) {
	b.Helper()
	return startSharedPairEnv(b, nil, nil, bin, s, redisURL, extra...)
}

// startSharedPairEnv is startSharedPair with variables (KEY=value) added
// to each instance's environment.
func startSharedPairEnv(b *testing.B, envA, envB []string, bin string, s *sshtest.Server, redisURL string, extra ...string) (a, bb *server) {
	b.Helper()
	db := benchDatabaseURL(b)
	archive := filepath.Join(b.TempDir(), "archive")
	prefix := randomName("gaffer-bench-") + ":"
	inv := writeInventory(b, s, []string{hostName}, "")
	args := func(name string) []string {
		return append([]string{"--instance", name, "--database-url", db, "--redis-url", redisURL,
			"--redis-prefix", prefix, "--archive-dir", archive}, extra...)
	}
	return startServerEnv(b, envA, bin, inv, s.KnownHosts, args("a")...), startServerEnv(b, envB, bin, inv, s.KnownHosts, args("b")...)
}

// raiseNoFile lifts this process's open-file limit (the servers it starts
// inherit it) to the hard limit: a thousand viewers hold a thousand sockets
// on each side.
func raiseNoFile(b *testing.B) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
}

// redisCommands is INFO stats' total_commands_processed.
func redisCommands(ctx context.Context, rc *goredis.Client) (int64, error) {
	return redisInfo(ctx, rc, "stats", "total_commands_processed")
}

// fanoutLoad is what the job prints: bursts of lines, one every 100 ms.
type fanoutLoad struct {
	bursts, lines int // bursts, lines per burst
}

var (
	fanoutFast = fanoutLoad{50, 100} // 1000 lines/s for 5 s
	fanoutSlow = fanoutLoad{50, 1}   // 10 lines/s for 5 s
)

// fanoutRun is one job followed by n viewers on instance bb while instance
// a runs it.
type fanoutRun struct {
	viewers   int
	lat       []time.Duration // record ts → arrived at a viewer, every 10th line of every viewer
	parsed    []time.Duration // record ts → that viewer's callback for it
	cmds      int64           // Redis commands from the first output line to the last viewer's end
	dur       time.Duration
	lossless  int // viewers that got every line, in order, and the end
	wantLines int64
}

// fanout runs one job on a, with n SSE viewers on bb (a itself when
// embedded), all connected before the command prints (it waits for a file
// the benchmark creates). rc nil: no Redis commands to count.
func fanout(b *testing.B, a, bb *server, rc *goredis.Client, n int, load fanoutLoad) fanoutRun {
	b.Helper()
	// The command runs as the sshd test user: the file must be where it
	// can look (b.TempDir is root's alone).
	dir, err := os.MkdirTemp("", "gaffer-bench-go-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	goFile := filepath.Join(dir, "go")
	// "ready" reaches every viewer first: then all are connected.
	command := fmt.Sprintf("echo ready; while [ ! -e %s ]; do sleep 0.05; done; for i in $(seq 1 %d); do seq 1 %d; sleep 0.1; done",
		goFile, load.bursts, load.lines)
	j := a.startJob(b, command)
	run := fanoutRun{viewers: n, wantLines: int64(load.bursts*load.lines) + 1}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var connected sync.WaitGroup
	connected.Add(n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var lossless atomic.Int64
	errs := make(chan error, n)
	for v := 0; v < n; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat, parsed []time.Duration
			first, out, next := true, int64(0), int64(1)
			res, err := bb.followQuery(ctx, j.ID, fanoutQuery, func(r record, at time.Time) error {
				if first {
					first = false
					connected.Done()
				}
				if r.Seq != next {
					return fmt.Errorf("seq %d, want %d", r.Seq, next)
				}
				next++
				if string(r.Stream) != "stdout" {
					return nil
				}
				if out++; out%10 == 0 {
					ts, err := time.Parse(time.RFC3339Nano, string(r.TS))
					if err != nil {
						return fmt.Errorf("ts %q: %v", r.TS, err)
					}
					lat = append(lat, at.Sub(ts))
					parsed = append(parsed, time.Since(ts))
				}
				return nil
			}, nil)
			if first {
				connected.Done()
			}
			if err == nil && res.EndStatus == "" {
				err = fmt.Errorf("no end event")
			}
			if err == nil && out != run.wantLines {
				err = fmt.Errorf("%d output lines, want %d", out, run.wantLines)
			}
			if err != nil {
				errs <- err
				return
			}
			lossless.Add(1)
			mu.Lock()
			run.lat = append(run.lat, lat...)
			run.parsed = append(run.parsed, parsed...)
			mu.Unlock()
		}()
	}
	waited := make(chan struct{})
	go func() { connected.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		b.Fatalf("viewers not all connected after a minute; job %d: %s on a, %s on b", j.ID, a.job(b, j.ID).Status, bb.job(b, j.ID).Status)
	}
	var c0, c1 int64
	if rc != nil {
		if c0, err = redisCommands(ctx, rc); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	run.dur = time.Since(start)
	if rc != nil {
		if c1, err = redisCommands(ctx, rc); err != nil {
			b.Fatal(err)
		}
		run.cmds = c1 - c0 - 1 // the first INFO
	}
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed == 1 {
			b.Errorf("viewer of job %d (of %d viewers): %v", j.ID, n, err)
		}
	}
	run.lossless = int(lossless.Load())
	where := "b"
	if a == bb {
		where = "a (embedded)"
	}
	p50, p99, mx := percentiles(run.lat)
	_, pp99, _ := percentiles(run.parsed)
	b.Logf("%d viewer(s) on instance %s: %d lossless, %d failed; ts → arrived p50 %.1f ms, p99 %.1f ms, max %.1f ms (→ parsed p99 %.1f ms); %d Redis commands in %.1f s (%.0f/s)",
		n, where, run.lossless, failed, ms(p50), ms(p99), ms(mx), ms(pp99), run.cmds, run.dur.Seconds(), float64(run.cmds)/run.dur.Seconds())
	a.waitJob(b, j.ID, time.Minute)
	return run
}

// fanoutGoal is issue 11's goal for 1 000 viewers × 1 000 lines/s, p99.
const fanoutGoal = 50 * time.Millisecond

// fanoutQuery is the viewers' query: "batch=1" (lines events, as the log
// page and the CLI read) with GAFFER_BENCH_FANOUT_BATCH=1; line events
// otherwise.
var fanoutQuery string

// fanoutRSSGoal is issue 11's goal for gaffer's memory with 10 000 viewers.
const fanoutRSSGoal = 1 << 30

// BenchmarkSharedViewers: one job printing 1000 lines/s for 5 s followed
// over SSE by one viewer, then by GAFFER_BENCH_VIEWERS (default 1000):
// embedded (one instance, the job and its viewers on it), then through Redis
// (the job on instance a, the viewers on instance b). The time from the
// server reading a line (its ts) to its arrival at each viewer (the read
// that brought it; each viewer still parses and checks every line), and
// from ts to the viewer's callback for it (parsed), whether every
// viewer got every line, and the Redis commands each run cost (a private
// redis-server, so its counters hold nothing else). Then 10 000 viewers
// (GAFFER_BENCH_MANY_VIEWERS) of a job printing 10 lines/s on a fresh
// embedded instance: its peak RSS (VmHWM). The one-viewer run beside each
// is the floor: what a line costs with nobody else to serve.
//
// GAFFER_BENCH_FANOUT_PROFILE=dir makes each server write a CPU profile of
// its whole life to dir/<embedded|a|b|many>.pprof (gaffer serve's
// GAFFER_CPUPROFILE). GAFFER_BENCH_FANOUT_BATCH=1 has the viewers read
// lines events (batch=1), as the log page and the CLI do.
func BenchmarkSharedViewers(b *testing.B) {
	viewers := 1000
	if v, err := strconv.Atoi(os.Getenv("GAFFER_BENCH_VIEWERS")); err == nil && v > 0 {
		viewers = v
	}
	many := 10000
	if v, err := strconv.Atoi(os.Getenv("GAFFER_BENCH_MANY_VIEWERS")); err == nil && v > 0 {
		many = v
	}
	if os.Getenv("GAFFER_BENCH_FANOUT_BATCH") == "1" {
		fanoutQuery = "batch=1"
		defer func() { fanoutQuery = "" }()
		b.Logf("the viewers read lines events (batch=1)")
	}
	raiseNoFile(b)
	bin := gafferBinary(b)
	s := sshtest.Start(b, sshtest.Options{Hosts: 1})
	inv := writeInventory(b, s, []string{hostName}, "")
	redisURL, rc := startBenchRedis(b)
	limit := func(n int) []string {
		l := strconv.Itoa(n + 10)
		return []string{"--max-streams", l, "--max-streams-per-user", l}
	}
	profile := func(name string) []string {
		if dir := os.Getenv("GAFFER_BENCH_FANOUT_PROFILE"); dir != "" {
			return []string{"GAFFER_CPUPROFILE=" + filepath.Join(dir, name+".pprof")}
		}
		return nil
	}
	emb := startServerEnv(b, profile("embedded"), bin, inv, s.KnownHosts, limit(viewers)...)
	a, bb := startSharedPairEnv(b, profile("a"), profile("b"), bin, s, redisURL, limit(viewers)...)
	// 64 KiB per viewer: the clients' 1 MiB buffers would be a GiB for a
	// thousand, allocated and cleared on the CPUs the server runs on.
	followBuffer = 64 << 10
	defer func() { followBuffer = 1 << 20 }()
	// The viewers' side warms up first, on a server of its own: the first
	// thousand viewers of this process grow its heap and their goroutines'
	// stacks on the CPUs the server runs on (p99 61–67 ms cold against
	// 44 ms warm, on a server fresh either way).
	warm := startServerEnv(b, nil, bin, inv, s.KnownHosts, limit(viewers)...)
	b.Logf("the viewers' warm-up, not measured:")
	fanout(b, warm, warm, nil, viewers, fanoutLoad{10, 100})
	warm.stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		eOne := fanout(b, emb, emb, nil, 1, fanoutFast)
		eAll := fanout(b, emb, emb, nil, viewers, fanoutFast)
		one := fanout(b, a, bb, rc, 1, fanoutFast)
		all := fanout(b, a, bb, rc, viewers, fanoutFast)

		// 10 000 viewers: a fresh instance, so that its VmHWM is this run's.
		b.StopTimer()
		big := startServerEnv(b, profile("many"), bin, inv, s.KnownHosts, limit(many)...)
		b.StartTimer()
		followBuffer = 16 << 10 // 64 KiB per viewer would be 640 MiB
		mAll := fanout(b, big, big, nil, many, fanoutSlow)
		followBuffer = 64 << 10
		hwm, err := procStatus(big.PID, "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		hwm <<= 10
		big.stop()

		row := func(name string, r, floor fanoutRun, goal string) {
			p50, p99, mx := percentiles(r.lat)
			_, pp99, _ := percentiles(r.parsed)
			f50, f99, _ := percentiles(floor.lat)
			b.Logf("%-44s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  (parsed: p99 %7.1f ms)  lossless %d/%d  | %s; 1 viewer: p50 %.1f ms, p99 %.1f ms",
				name, ms(p50), ms(p99), ms(mx), ms(pp99), r.lossless, r.viewers, goal, ms(f50), ms(f99))
		}
		b.Logf("fan-out, ts → arrived at the viewer, and → parsed by it (goal beside; floor: the same job with 1 viewer, same run):")
		row(fmt.Sprintf("%d viewers × 1 000 lines/s, embedded", viewers), eAll, eOne, fmt.Sprintf("goal p99 ≤ %v", fanoutGoal))
		row(fmt.Sprintf("%d viewers × 1 000 lines/s, through Redis", viewers), all, one, fmt.Sprintf("goal p99 ≤ %v", fanoutGoal))
		row(fmt.Sprintf("%d viewers × 10 lines/s, embedded", many), mAll, mAll, fmt.Sprintf("gaffer VmHWM %.0f MiB, goal < %d MiB (ratio %.2f)",
			float64(hwm)/(1<<20), fanoutRSSGoal>>20, float64(hwm)/fanoutRSSGoal))
		b.Logf("Redis commands: 1 viewer %d (%.0f/s), %d viewers %d (%.0f/s)", one.cmds, float64(one.cmds)/one.dur.Seconds(),
			viewers, all.cmds, float64(all.cmds)/all.dur.Seconds())

		_, ep99, _ := percentiles(eAll.lat)
		p50, p99, mx := percentiles(all.lat)
		_, mp99, _ := percentiles(mAll.lat)
		b.ReportMetric(float64(viewers), "viewers")
		b.ReportMetric(ms(ep99), "embedded-p99-ms")
		b.ReportMetric(ms(p50), "p50-ms")
		b.ReportMetric(ms(p99), "p99-ms")
		b.ReportMetric(ms(mx), "max-ms")
		b.ReportMetric(float64(all.lossless+eAll.lossless), "lossless-viewers")
		b.ReportMetric(float64(one.cmds)/one.dur.Seconds(), "redis-cmd/s-1-viewer")
		b.ReportMetric(float64(all.cmds)/all.dur.Seconds(), "redis-cmd/s-all-viewers")
		b.ReportMetric(ms(mp99), "10k-p99-ms")
		b.ReportMetric(float64(hwm)/(1<<20), "10k-VmHWM-MiB")
	}
}

// BenchmarkSharedFailover: kill -9 of the instance running a job, with the
// default --lease-ttl; the time until the other instance shows the job
// interrupted. Three kills (each on a fresh pair), as where the kill falls
// between two heartbeats varies.
func BenchmarkSharedFailover(b *testing.B) {
	bin := gafferBinary(b)
	s := sshtest.Start(b, sshtest.Options{Hosts: 1})
	const kills = 3
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var took []time.Duration
		for k := 0; k < kills; k++ {
			a, bb := startSharedPair(b, bin, s, benchRedisURL())
			j := a.startJob(b, "echo started; sleep 120")
			for deadline := time.Now().Add(time.Minute); a.job(b, j.ID).Status != "running"; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("job not running after a minute")
				}
			}
			// Let heartbeats settle into their rhythm, and the kill fall
			// anywhere between two of them.
			time.Sleep(time.Duration(1000+k*333) * time.Millisecond)
			a.cmd.Process.Kill()
			killed := time.Now()
			<-a.done
			for {
				st := bb.job(b, j.ID).Status
				if st == "interrupted" {
					break
				} else if st != "running" {
					b.Fatalf("job %s after kill -9, want interrupted", st)
				}
				if time.Since(killed) > 2*time.Minute {
					b.Fatal("job not interrupted 2 minutes after kill -9")
				}
				time.Sleep(20 * time.Millisecond)
			}
			took = append(took, time.Since(killed))
			bb.stop()
		}
		_, _, mx := percentiles(took)
		var sum time.Duration
		mn := took[0]
		for _, d := range took {
			sum += d
			mn = min(mn, d)
		}
		b.Logf("kill -9 → interrupted on the other instance: %v", took)
		b.ReportMetric(mn.Seconds(), "min-s")
		b.ReportMetric((sum / kills).Seconds(), "mean-s")
		b.ReportMetric(mx.Seconds(), "max-s")
	}
}
