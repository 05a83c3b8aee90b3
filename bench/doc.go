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
// -bench Memory, -bench Fleet or -bench BigLog (one part of it:
// -bench BigLog/search). Each benchmark builds ./cmd/gaffer once per
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
// BenchmarkIngestRows prints issue 11's ingest rows as a table in its log,
// each beside the bare read of the same command in the same run (dial →
// exit through x/crypto/ssh, stdout split by a bufio.Scanner, best of 3),
// with the ratio (metric <row>-ratio): `seq 1 5000000` and 1 M lines of
// 200 B (`seq -f '%0199.0f' 1 1000000`), each with no viewer (POST → the
// job has finished_at) and with one live SSE viewer (POST → `end`, every
// line checked) of line events (an event per record, the default) and of
// lines events (`?batch=1`, a run of records per event, as the CLI and the
// log page read), and the 200 B rows again through PostgreSQL + Redis. Each
// row runs 3 times and its best is reported, as the limit's is, with every
// run's ratio beside it (a shared machine's noise shows there). It
// also reports the server's CPU during each row and after it (until the
// server is quiet: the end-of-job archive check), and checks the archived
// log's summary. Both servers keep only their newest finished job
// (--retain-jobs 1), and each run waits, untimed, for the one before it to
// be deleted with its log: the page cache holds one or two runs' archives,
// not all of them, so a row's figure does not depend on how many rows ran
// before it (see rowsRetain). Under the table, each viewer row gets its wire bound, "the
// SSE bytes alone" (metrics <row>-wire-s and <row>-wire-ratio, the ratio
// to the bare read that the format and client alone allow): the line events
// (or lines events, a run per 32 KiB of output, as one read of the SSH
// channel brings them) a viewer of that job reads and the `end`, encoded
// before timing with gaffer.Record.AppendJSON (gaffer.JSONEncoder.AppendLines),
// served by a bare net/http server on 127.0.0.1 in 64 KiB flushed writes to
// the same client (readSSE, parseRecord or linesParser, the row's line
// check), request → `end`, best of 3; and then the same while
// the bare read of the row's command runs alongside, timed until both are
// done (metric <row>-both-ratio): what one viewer's row costs this machine
// with a server that costs nothing, the ratio's real ceiling when the
// client and sshd share the server's cores. With
// GAFFER_BENCH_CPUPROFILE=FILE, the embedded server writes a CPU profile of
// its whole life (all its rows) to FILE, through
// `gaffer serve`'s GAFFER_CPUPROFILE variable (unset: no profile); read it
// with `go tool pprof -top FILE`.
//
// BenchmarkLatency runs a command that prints its clock (date +%s%N) every
// 10 ms, 500 times, after a 1 s pause that lets the viewer connect. sshd is
// on the same machine, so the clocks agree. It reports p50/p99/max of print →
// line received for a bare x/crypto/ssh session (ssh-*-ms: timestamped when
// the chunk holding the line is read) and for Gaffer (p50-ms, p99-ms, max-ms:
// timestamped when the read that brought the event to one SSE viewer
// returned, one clock read per read as for bare), and stamp-p50-ms,
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
//
// BenchmarkBigLog reads, searches and shows one finished job of 10 M lines
// without reading it from its start. The job runs over sshd on two hosts:
// h1 prints needle-first then `seq 1 10000000` (78.9 MB), h2 (told apart by
// the address in $SSH_CONNECTION) 1000 lines of its own, all within the
// first 0.1 % of the log. sshd rather than the server's host local, as the
// other benchmarks run, and because two hosts make a host filter mean
// something: one host's records near the end, the other's only near the
// start. Before the parts, h1's stdout is saved with ?format=raw and checked
// byte for byte. Parts (sub-benchmarks, each runnable alone; the 10 M-line
// job is made once, by the first that needs it):
//
//   - reads: each read form's latency, request to the whole body read on a
//     kept-alive connection, the median of 21 tries, the forms taken in turn
//     so that a burst of load falls on all alike; each answer checked (the
//     right seqs, hosts, count). start-ms, 1pct-ms, mid-ms and end-ms are
//     ?after=N&limit=1000 with N = 0, last/100, last/2 and last-1000; tail-ms ?tail=1000; before-mid-ms
//     ?before=<last/2>&limit=1000; since-mid-ms ?since=<the ts of record
//     last/2>&limit=1000; host-end-ms ?host=h1&after=<last-1000>&limit=1000;
//     host-tail-ms ?host=h1&tail=1000; sparse-host-tail-ms ?host=h2&tail=100
//     (the last 100 of a host whose records are all near the start);
//     summary-ms /log/summary; job-ms GET /api/jobs/{id}, a request that
//     reads no log: the floor. end/start is the ratio of the two medians:
//     1 when a read costs the same anywhere in the log.
//   - search: /log/search for a string found once, near the start, so the
//     whole log is scanned: substring (q=needle-first&case=1), nocase
//     (q=NEEDLE-FIRST, the default) and regex (q=[a-z]+-first$&regex=1&case=1,
//     no literal prefix, though every match holds "-first", which the archive
//     looks for before it runs the expression on a line), each paged
//     with after=scanned_to until done, against grep -cF, -ciF and -cE over
//     h1's raw stdout in a file (in the page cache; LC_ALL=C.UTF-8, so that
//     grep folds case by Unicode as Go's regexp does), best of 3 each,
//     alternating. *-MB/s is h1's raw bytes over the time, *-x-grep the
//     server's time over grep's, *-first-match-ms request → the match read.
//     The one match must be found, at the needle's seq.
//   - cli: a second job, `seq 1 5000000` on h1, printed to a file by
//     `gaffer logs ID` (cli-text-s) and `gaffer logs -o json ID`
//     (cli-json-s) against `curl` of the NDJSON (curl-s), process start to
//     exit, best of 3, each round in another order, every run starting
//     with the last output removed and written back (sync); *-x-curl the
//     ratio (goal: 1.5 at most). The NDJSON of curl and of -o json must
//     have the same number of lines.
//   - page: the job page in a headless Chromium (/usr/bin/chromium), opened
//     afresh 3 times, medians. A script added to every document checks on
//     every animation frame what is waited for and notes when it first
//     holds (performance.now()). first-lines-ms: navigation start → a log
//     row on screen; jump-ms: location.hash set to #L5000000 in the open
//     page → that row on screen, selected (its text checked against the
//     API's record); search-ms: needle-first typed into the search field,
//     Enter pressed → the needle's row on screen with the match
//     highlighted; search-done-ms: Enter → the page's search done (its test
//     hook gafferViewer.state().hitsDone; it must count one match);
//     permalink-ms: navigation start of /jobs/ID#L5000000 (a new document)
//     → that row on screen, selected. js-heap-MiB (JSHeapUsedSize of
//     Performance.getMetrics), dom-nodes and tab-RSS-MiB (VmRSS of the
//     browser's renderer process) are the largest seen after the first
//     lines and after the search; list-tab-RSS-MiB is the same tab on the
//     job list before, what Chromium costs without the job page. A wait
//     that runs out (60 s) is reported in the log, not as a figure.
package bench
