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
// (that is `make bench`), or one with -bench Ingest, -bench Latency or
// -bench Memory. Each benchmark builds ./cmd/gaffer once per test binary
// (go build; cached across benchmarks), starts its own sshd with one host and
// its own `gaffer serve --local=false` subprocess with a fresh data directory,
// and reports its figures with b.ReportMetric plus a one-line summary in the
// log. Nothing asserts a timing: timings depend on the machine. A benchmark
// fails only on wrong results (lines missing, out of order, a job that did
// not succeed).
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
//     start to end (SSE delivery alone, mostly from the archive).
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
// before. The data directory (about 1.4 GB per job) is deleted at the end.
package bench
