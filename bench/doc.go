// Package bench measures the whole Gaffer server end to end — the real
// binary, a real OpenSSH sshd on loopback (internal/sshtest), real HTTP and
// SSE — and, in the same run, the physical limit each figure should be read
// against: the same remote command through a bare golang.org/x/crypto/ssh
// session (and the OpenSSH client where installed). A figure for Gaffer alone
// says little on a shared machine; the ratio to its limit measured seconds
// earlier on the same cores says how much the server costs.
//
// The package holds only benchmarks (in _test.go files); this file is its
// documentation. Run them all, once each, with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./bench/
//
// (that is `make bench`), or one with -bench Ingest, -bench Latency,
// -bench Memory or -bench Fleet. Each benchmark builds ./cmd/gaffer once per
// test binary (go build; cached across benchmarks), starts its own sshd (one
// host; 40 for Fleet) and its own `gaffer serve --local=false` subprocesses
// with fresh data directories, and reports its figures with b.ReportMetric
// plus a few summary lines in the log. Nothing asserts a timing: timings
// depend on the machine. A benchmark fails only on wrong results (lines
// missing, out of order, a job that did not succeed, a host without its
// output).
//
// Besides sshd (apt-get install -y openssh-server) they need: for Ingest's
// shared mode, PostgreSQL and Redis as the test suite finds them
// (GAFFER_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432,
// where a database gaffer_bench_<random> is created and dropped;
// GAFFER_TEST_REDIS_URL, default redis://127.0.0.1:6379/0, under a key
// prefix of its own, deleted at the end); for Fleet, parallel-ssh and
// ansible (apt-get install -y pssh ansible).
//
// The machine is assumed shared: each limit is the best of several tries,
// and figures vary from run to run with the load of other processes; compare
// a figure with its limit from the same run, not with another run.
//
// BenchmarkIngest runs `seq 1 2000000` (2 M lines, 14.9 MB):
//
//   - ssh-lines/s, ssh-MB/s: bare x/crypto/ssh session, stdout copied to
//     io.Discard (counting bytes and lines), timed from dial to exit, best
//     of 3 (the limit);
//   - openssh-s: the same with the ssh binary, output to /dev/null, best of 3;
//   - gaffer-lines/s: POST /api/jobs until one SSE viewer has read the `end`
//     event, having checked every stdout line 1..2000000 in order and every
//     seq without gaps (a missing or wrong line fails the benchmark);
//     %-of-ssh is its ratio to ssh-lines/s; first-line-ms is POST → first
//     line event;
//   - job-lines/s: the same lines over the run's started_at..finished_at as
//     the server recorded them: what the server ingests, viewer aside;
//   - server-cpu-s, viewer-cpu-s: CPU time of the gaffer process and of this
//     test process (the viewer) from POST to end;
//   - replay-lines/s: the finished job's log read again, by a new viewer,
//     start to end (SSE delivery alone, mostly from the archive);
//   - redis-*: the same job, viewer and replay through a second server in
//     shared mode (--database-url, --redis-url, --redis-prefix,
//     --archive-dir), live log in Redis Streams; redis-job-peak-MiB is the
//     largest sum of MEMORY USAGE (SAMPLES 0) of the job's three keys
//     (<prefix>job:<id>:log, :meta, :idx), sampled every 50 ms while it
//     runs; redis-used-delta-MiB the peak of INFO used_memory over its value
//     before the job (the whole Redis, shared with whatever else uses it).
//
// BenchmarkLatency runs a command that prints its clock (date +%s%N) every
// 10 ms, 500 times, after a 1 s pause that lets the viewer connect. sshd is
// on the same machine, so the clocks agree. It reports p50/p99/max of print →
// line received for a bare x/crypto/ssh session (ssh-*-ms: timestamped when
// the chunk holding the line is read) and for Gaffer (p50-ms, p99-ms, max-ms:
// timestamped when one SSE viewer has parsed the event), and stamp-p50-ms,
// the part of Gaffer's latency before the server stamped the record (ts).
//
// BenchmarkMemory runs `yes <100 chars> | head -c 1073741824` (1 GiB, 10.6 M
// lines) twice through Gaffer: first with no viewer, then with one viewer that
// reads 4 KiB every 10 ms (~0.4 MB/s; it falls far behind and must neither
// slow the job nor grow the server). It reports the gaffer process's VmRSS at
// idle, the maximum VmRSS (and RssAnon) sampled every 50 ms and the Go heap
// in use (from /metrics) during the second job, VmHWM after each job, the
// jobs' durations (run started_at..finished_at) and server CPU, and the
// archive size on disk per job. Its limits: the same 1 GiB through a bare
// x/crypto/ssh session (best of one run before and one after the jobs) and
// through the ssh binary (duration and peak RSS from rusage). Every job and
// bare run starts after sync(2), so none pays for the writeback of the one
// before. A job counts as done when its finished_at is set, not when its
// status turns final: the server finishes a job (checks the archive against
// what the host sent, completes it, closes the live log) seconds after its
// last run ended; post-done-s is POST to then. The data directory (about
// 1.4 GB per job) is deleted at the end.
//
// BenchmarkFleet runs `uname -a` on 40 hosts (sshtest: 40 loopback addresses
// on 3 sshd daemons) from a shell, each tool timed from process start to
// exit, the median of 5 rounds, each round running every tool once so that a
// burst of load falls on all alike: `gaffer run -l role=web -- uname -a`
// against a server whose inventory labels the 40 hosts role=web, on a server
// just started (gaffer-cold: its SSH connection pool empty) and again right
// after (gaffer-warm: pooled connections), with the server's default
// concurrency (20) and with --concurrency 40; `parallel-ssh -p 40 -i`; and
// `ansible all -m shell -f 40`, with an empty ControlPath directory
// (ansible-cold) and again while the ControlPersist masters that run left
// are alive (ansible-warm, ansible's default of 60 s; they are ended after
// each round). The limit: 40 x/crypto/ssh connections dialed at once from
// this process with one session each (ssh-cold), and one more session on
// each of them (ssh-warm). *-cpu-ms is the user+system CPU of the tool and
// the children it waited for (for gaffer: the CLI plus the server). Every
// run must show all 40 hosts succeeding, each with its `Linux ...` line.
package bench
