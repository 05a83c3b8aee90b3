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
	db := benchDatabaseURL(b)
	archive := filepath.Join(b.TempDir(), "archive")
	prefix := randomName("gaffer-bench-") + ":"
	inv := writeInventory(b, s, []string{hostName}, "")
	args := func(name string) []string {
		return append([]string{"--instance", name, "--database-url", db, "--redis-url", redisURL,
			"--redis-prefix", prefix, "--archive-dir", archive}, extra...)
	}
	return startServer(b, bin, inv, s.KnownHosts, args("a")...), startServer(b, bin, inv, s.KnownHosts, args("b")...)
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

const (
	fanoutBursts    = 50  // of fanoutBurstLines lines, every 100 ms: 1000 lines/s for 5 s
	fanoutBurstLine = 100 // lines per burst
)

// fanoutRun is one job followed by n viewers on instance bb while instance
// a runs it.
type fanoutRun struct {
	viewers   int
	lat       []time.Duration // record ts → parsed by a viewer, every 10th line of every viewer
	cmds      int64           // Redis commands from the first output line to the last viewer's end
	dur       time.Duration
	lossless  int // viewers that got every line, in order, and the end
	wantLines int64
}

// fanout runs one job on a, with n SSE viewers on bb, all connected before
// the command prints (it waits for a file the benchmark creates).
func fanout(b *testing.B, a, bb *server, rc *goredis.Client, n int) fanoutRun {
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
		goFile, fanoutBursts, fanoutBurstLine)
	j := a.startJob(b, command)
	run := fanoutRun{viewers: n, wantLines: fanoutBursts*fanoutBurstLine + 1}
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
			var lat []time.Duration
			first, out, next := true, int64(0), int64(1)
			res, err := bb.follow(ctx, j.ID, func(r record, at time.Time) error {
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
	c0, err := redisCommands(ctx, rc)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	run.dur = time.Since(start)
	c1, err := redisCommands(ctx, rc)
	if err != nil {
		b.Fatal(err)
	}
	run.cmds = c1 - c0 - 1 // the first INFO
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed == 1 {
			b.Errorf("viewer of job %d (of %d viewers): %v", j.ID, n, err)
		}
	}
	run.lossless = int(lossless.Load())
	p50, p99, mx := percentiles(run.lat)
	b.Logf("%d viewer(s) on instance b: %d lossless, %d failed; ts → viewer p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d Redis commands in %.1f s (%.0f/s)",
		n, run.lossless, failed, ms(p50), ms(p99), ms(mx), run.cmds, run.dur.Seconds(), float64(run.cmds)/run.dur.Seconds())
	a.waitJob(b, j.ID, time.Minute)
	return run
}

// BenchmarkSharedViewers: one job printing 1000 lines/s for 5 s on instance
// a, followed over SSE on instance b by one viewer, then by
// GAFFER_BENCH_VIEWERS (default 1000): the time from the server reading a
// line (its ts) to each viewer parsing it, whether every viewer got every
// line, and the Redis commands each run cost (a private redis-server, so
// its counters hold nothing else).
func BenchmarkSharedViewers(b *testing.B) {
	viewers := 1000
	if v, err := strconv.Atoi(os.Getenv("GAFFER_BENCH_VIEWERS")); err == nil && v > 0 {
		viewers = v
	}
	raiseNoFile(b)
	bin := gafferBinary(b)
	s := sshtest.Start(b, sshtest.Options{Hosts: 1})
	redisURL, rc := startBenchRedis(b)
	limit := strconv.Itoa(viewers + 10)
	a, bb := startSharedPair(b, bin, s, redisURL, "--max-streams", limit, "--max-streams-per-user", limit)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		one := fanout(b, a, bb, rc, 1)
		many := fanout(b, a, bb, rc, viewers)
		p50, p99, mx := percentiles(many.lat)
		b.ReportMetric(float64(viewers), "viewers")
		b.ReportMetric(ms(p50), "p50-ms")
		b.ReportMetric(ms(p99), "p99-ms")
		b.ReportMetric(ms(mx), "max-ms")
		b.ReportMetric(float64(many.lossless), "lossless-viewers")
		b.ReportMetric(float64(one.cmds)/one.dur.Seconds(), "redis-cmd/s-1-viewer")
		b.ReportMetric(float64(many.cmds)/many.dur.Seconds(), "redis-cmd/s-all-viewers")
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
