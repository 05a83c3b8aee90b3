// Package foreman runs jobs: one worker goroutine per (job, host) run, each
// streaming its host's output through line framing into the job's log (the
// archive first, then the live buffer), and keeping the job store up to date.
// It depends only on the interfaces of the root package.
package foreman

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Causes of a run's context ending, told apart when the run's status is set.
var (
	errCanceled = errors.New("canceled by a user")
	errTimeout  = errors.New("timed out")
	errShutdown = errors.New("the server stopped before the run ended")
	// errShutdownStart: the server began to stop while the job was being
	// created.
	errShutdownStart = fmt.Errorf("%w: it stopped before the job started", errShutdown)
	errClosing       = gaffer.Errorf(gaffer.EUNAVAILABLE, "the server is shutting down; start the job again when it is back")
	// errLostLease: the instance could not reach the shared database for
	// too long, so others may already have taken its jobs as dead.
	errLostLease = errors.New("the server instance running it lost contact with the database")
)

// DefaultConcurrency is how many runs of one job go at once unless asked.
const DefaultConcurrency = 20

// Defaults of the limits: a request past them is refused, never queued.
const (
	DefaultMaxRunningJobs = 100
	DefaultMaxConcurrency = 1000
)

// Config is what a Foreman needs; cmd/gaffer wires the concrete types.
type Config struct {
	Store   gaffer.JobStore
	Live    gaffer.LiveLog
	Archive gaffer.Archive
	// Executor runs commands on remote hosts, Local on hosts with Local set.
	Executor gaffer.Executor
	Local    gaffer.Executor
	// Follower follows files on remote hosts (follow jobs), LocalFollower
	// on hosts with Local set.
	Follower      gaffer.Follower
	LocalFollower gaffer.Follower
	// Webhooks makes the sender of one webhook's alerts (one per job and
	// URL); nil: alerts only mark records.
	Webhooks func(url string) gaffer.AlertSink
	// Hosts returns the current inventory.
	Hosts  func() []gaffer.Host
	Logger *slog.Logger
	// LiveLinger is how long a finished job's live buffer is kept when its
	// archive could not be completed; with a complete archive it goes at
	// once. Default 1 minute.
	LiveLinger time.Duration

	// Instance names this server among those sharing the store; it is each
	// job's Owner. Shared says other instances may run jobs too: then jobs
	// left unfinished are only interrupted once their owner's heartbeat is
	// older than LeaseTTL (DefaultLeaseTTL), never at start-up.
	Instance string
	Shared   bool
	LeaseTTL time.Duration

	// StoreTimeout bounds each store write of a worker (default 10 s): a
	// database that stopped answering costs a logged error, not a job that
	// never ends.
	StoreTimeout time.Duration

	// MaxRunningJobs caps the jobs this instance runs at once; a start past
	// it is EUNAVAILABLE. MaxConcurrency caps a job's concurrency; more is
	// EINVALID. Defaults DefaultMaxRunningJobs, DefaultMaxConcurrency.
	MaxRunningJobs int
	MaxConcurrency int
	// Secrets are server-wide values masked in every job's output.
	Secrets []string
}

// Foreman knows every running job and its workers.
type Foreman struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	active map[int64]*activeJob
	// finished holds the final state of jobs that ended here, until their
	// live buffer is dropped: the viewers still streaming them ask for it
	// all at once when the log ends, and get it without a query each.
	finished map[int64]*gaffer.Job
	closing  bool
	// wg counts job runners, Starts under way and archive checks. Add is
	// called with mu held and closing false, or by a runner (the count is
	// above zero), so Shutdown's Wait never races an Add from zero.
	wg sync.WaitGroup
	// bg ends the archive checks still going when Shutdown ends.
	bg        context.Context
	stopBg    context.CancelFunc
	lingering map[*time.Timer]bool // pending afterLinger work
	verifying sync.Mutex           // one archive check at a time
	lease     lease                // this instance's heartbeats (lease.go)

	// liveDownUntil (Unix ns): until then readers leave the live log alone,
	// after a read failed. liveUnclosed holds jobs whose live log this
	// instance could not close when they ended: readers use the archive.
	liveDownUntil atomic.Int64
	liveUnclosed  sync.Map // int64 -> struct{}
	kept          sync.Map // int64 -> oldest seq a retained log keeps (retain.go)

	stats Stats
	// resumedIDs: follow jobs Recover started again; suspendedIDs: those
	// Shutdown left to resume (resume.go).
	resumedIDs, suspendedIDs []int64
	// slots counts the jobs started or starting here (MaxRunningJobs).
	slots atomic.Int64
}

// Stats are counters for /metrics.
type Stats struct {
	JobsStarted   atomic.Int64
	RunsFinished  sync.Map // gaffer.Status -> *atomic.Int64
	Records       atomic.Int64
	Bytes         atomic.Int64
	ActiveJobs    atomic.Int64
	ActiveRuns    atomic.Int64
	ArchiveErrors atomic.Int64
	// LogsIncomplete counts jobs whose archived log lacks records (writing
	// it failed); they fail saying so.
	LogsIncomplete atomic.Int64
	// JobsRefusedMaxRunning counts starts refused at MaxRunningJobs.
	JobsRefusedMaxRunning atomic.Int64
	// Alerts: delivered, dropped (queue full, refused, or left at the
	// job's end), failed POSTs, queued now, webhooks failing now.
	AlertsSent, AlertsDropped, WebhookFailures atomic.Int64
	AlertsPending, WebhooksFailing             atomic.Int64
}

// RunsFinishedBy returns how many runs ended with each status.
func (s *Stats) RunsFinishedBy() map[gaffer.Status]int64 {
	out := map[gaffer.Status]int64{}
	s.RunsFinished.Range(func(k, v any) bool {
		out[k.(gaffer.Status)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

func (s *Stats) runFinished(st gaffer.Status) {
	v, _ := s.RunsFinished.LoadOrStore(st, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// New returns a Foreman. Call Recover once before serving.
func New(cfg Config) *Foreman {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.LiveLinger <= 0 {
		cfg.LiveLinger = time.Minute
	}
	if cfg.Hosts == nil {
		cfg.Hosts = func() []gaffer.Host { return nil }
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Instance == "" {
		cfg.Instance = "gaffer"
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 10 * time.Second
	}
	if cfg.MaxRunningJobs <= 0 {
		cfg.MaxRunningJobs = DefaultMaxRunningJobs
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = DefaultMaxConcurrency
	}
	bg, stop := context.WithCancel(context.Background())
	return &Foreman{cfg: cfg, log: cfg.Logger, active: map[int64]*activeJob{}, finished: map[int64]*gaffer.Job{},
		lingering: map[*time.Timer]bool{}, bg: bg, stopBg: stop}
}

// storeCtx bounds one store write of a worker: the job never waits on the
// database for longer.
func (f *Foreman) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), f.cfg.StoreTimeout)
}

// track counts work Shutdown waits for; false once the foreman closes.
func (f *Foreman) track() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.wg.Add(1)
	return true
}

// Stats returns the live counters.
func (f *Foreman) Stats() *Stats { return &f.stats }

// Hosts returns the inventory.
func (f *Foreman) Hosts() []gaffer.Host { return f.cfg.Hosts() }

// Recover marks jobs that a previous process left unfinished as
// interrupted, and starts again the follow jobs among them that can go on
// (resume.go; Resumed lists them). With a shared store it does nothing:
// other instances may be running those jobs, and Watch interrupts them
// once their owner is silent.
func (f *Foreman) Recover(ctx context.Context) ([]int64, error) {
	if f.cfg.Shared {
		return nil, nil
	}
	if interrupt, reasons, ok := f.recoverFollow(ctx); ok {
		ids := f.interruptJobs(ctx, interrupt, reasons)
		f.closeOrphans(ctx, ids)
		return ids, nil
	}
	ids, err := f.cfg.Store.InterruptUnfinished(ctx, "the server stopped before the run ended")
	if err != nil {
		return nil, fmt.Errorf("recover unfinished jobs: %w", err)
	}
	f.closeOrphans(ctx, ids)
	return ids, nil
}

// closeOrphans ends the logs of jobs whose writer is gone: the archive is
// sealed (a torn last record cut, marked complete) and the live log closed,
// so readers see where they end.
func (f *Foreman) closeOrphans(ctx context.Context, ids []int64) {
	s, canSeal := f.cfg.Archive.(interface {
		Seal(ctx context.Context, jobID int64) error
	})
	for _, id := range ids {
		if canSeal {
			if err := s.Seal(ctx, id); err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
				f.log.Warn("seal the log of an interrupted job", "job", id, "err", err)
			}
		}
		if err := f.cfg.Live.Close(ctx, id); err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
			f.log.Warn("close the live log of an interrupted job", "job", id, "err", err)
		}
		f.dropLiveLater(id)
	}
}

// activeJob is a running job: its state, guarded by mu, and its log writer.
type activeJob struct {
	mu     sync.Mutex
	job    *gaffer.Job // the authoritative copy while the job runs
	cancel context.CancelCauseFunc
	log    *jobLog
	checks []runCheck
	// secrets go to the commands' environment and masker hides them (and
	// the server-wide ones) in the output; neither is ever stored.
	secrets map[string]string
	masker  *gaffer.Masker
	// resume, for a follow job started again after a restart: where each
	// run that was running goes on (nil for the others).
	resume []*followResume
}

func (a *activeJob) snapshot() *gaffer.Job {
	a.mu.Lock()
	defer a.mu.Unlock()
	j := copyJob(a.job)
	j.Webhooks = a.log.alerts.states()
	return j
}

func copyJob(j *gaffer.Job) *gaffer.Job {
	c := *j
	c.Runs = make([]*gaffer.Run, len(j.Runs))
	for i, r := range j.Runs {
		c.Runs[i] = copyRun(r)
	}
	c.Follow, c.Alerts, c.Webhooks = slices.Clone(j.Follow), slices.Clone(j.Alerts), slices.Clone(j.Webhooks)
	return &c
}

// copyRun copies a run with its follow state.
func copyRun(r *gaffer.Run) *gaffer.Run {
	rc := *r
	if r.Follow != nil {
		fs := *r.Follow
		fs.Files = slices.Clone(fs.Files)
		fs.Positions = slices.Clone(fs.Positions)
		rc.Follow = &fs
	}
	return &rc
}

// Start validates the request, stores the job with its runs queued, and
// starts its workers. It returns the job as stored.
func (f *Foreman) Start(ctx context.Context, req gaffer.JobRequest, by string) (*gaffer.Job, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if req.Concurrency > f.cfg.MaxConcurrency {
		return nil, gaffer.Errorf(gaffer.EINVALID, "concurrency %d is over this server's limit of %d (--max-concurrency)", req.Concurrency, f.cfg.MaxConcurrency)
	}
	hosts, err := gaffer.ResolveHosts(f.cfg.Hosts(), req.Hosts, req.Selector)
	if err != nil {
		return nil, err
	}
	if n := f.slots.Add(1); n > int64(f.cfg.MaxRunningJobs) {
		f.slots.Add(-1)
		f.stats.JobsRefusedMaxRunning.Add(1)
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "this server already runs its maximum of %d running jobs (--max-running-jobs); try again when one ends", f.cfg.MaxRunningJobs)
	}
	// Shutdown waits for a Start under way, and a job it could not see yet
	// is not started at all.
	if !f.track() {
		f.slots.Add(-1)
		return nil, errClosing
	}
	started := false
	defer func() {
		if !started {
			f.slots.Add(-1)
			f.wg.Done()
		}
	}()

	now := time.Now().UTC()
	job := &gaffer.Job{Command: req.Command, Status: gaffer.StatusQueued, CreatedBy: by, CreatedAt: now,
		Timeout: req.Timeout, PTY: req.PTY, Concurrency: req.Concurrency, Owner: f.cfg.Instance,
		Follow: req.Follow, From: req.From, Retain: req.Retain, Alerts: req.Alerts}
	if len(job.Follow) > 0 {
		job.Command = gaffer.FollowCommand(job.Follow)
		if job.From == "" {
			job.From = "end"
		}
	}
	if job.Concurrency == 0 {
		job.Concurrency = DefaultConcurrency
		if len(job.Follow) > 0 {
			// A follow run lasts as long as the job: one waiting for a
			// slot would wait for ever.
			job.Concurrency = min(max(len(hosts), 1), f.cfg.MaxConcurrency)
		}
	}
	for _, h := range hosts {
		job.Runs = append(job.Runs, &gaffer.Run{Host: h.Name, Status: gaffer.StatusQueued})
	}
	if err := f.cfg.Store.CreateJob(ctx, job); err != nil {
		return nil, fmt.Errorf("create job: %w", err)
	}
	aw, keep, err := f.createArchive(ctx, job)
	if err != nil {
		f.failJob(job, fmt.Errorf("could not open the job's log archive: %w", err))
		return nil, fmt.Errorf("create archive: %w", err)
	}
	if err := f.cfg.Live.Create(ctx, job.ID); err != nil {
		aw.Close()
		f.failJob(job, fmt.Errorf("could not open the job's live log: %w", err))
		return nil, fmt.Errorf("create live log: %w", err)
	}

	// The job's context outlives the request that started it.
	jctx, cancel := context.WithCancelCause(context.Background())
	if job.Timeout > 0 {
		var stop context.CancelFunc
		jctx, stop = context.WithTimeoutCause(jctx, time.Duration(job.Timeout), errTimeout)
		prev := cancel
		cancel = func(cause error) { prev(cause); stop() }
	}
	aj := &activeJob{job: copyJob(job), cancel: cancel,
		log:     newJobLog(job.ID, aw, f.cfg.Live, &f.stats, f.log),
		secrets: req.Secrets, masker: f.masker(req.Secrets)}
	aj.log.alerts = newAlerter(job.ID, req.Alerts, f.cfg.Webhooks, aj.log)
	aj.log.retain = startRetainer(aj.log, keep, job.Retain, func(first int64) { f.kept.Store(job.ID, first) })
	f.mu.Lock()
	closing := f.closing
	if !closing {
		f.active[job.ID] = aj
	}
	f.mu.Unlock()
	if closing {
		cancel(errShutdown)
		aw.Close()
		aj.log.finish() // closes the live log, and ends its appender
		aj.log.alerts.close()
		f.failJob(job, errShutdownStart)
		return nil, errClosing
	}
	started = true // runJob ends the wait
	f.stats.JobsStarted.Add(1)
	f.stats.ActiveJobs.Add(1)
	f.log.Info("job started", "job", job.ID, "hosts", len(hosts), "by", by)

	go f.runJob(jctx, aj, hosts)
	return copyJob(job), nil
}

// failJob records a job that could not be started at all: failed, or
// interrupted if the server stopped first.
func (f *Foreman) failJob(job *gaffer.Job, cause error) {
	ctx, cancel := f.storeCtx()
	defer cancel()
	now := time.Now().UTC()
	st := gaffer.StatusFailed
	if errors.Is(cause, errShutdown) {
		st = gaffer.StatusInterrupted
	}
	for _, r := range job.Runs {
		r.Status, r.Error, r.FinishedAt = st, gaffer.ErrorMessage(cause), &now
		if err := f.cfg.Store.UpdateRun(ctx, job.ID, r); err != nil {
			f.log.Error("record failed run", "job", job.ID, "err", err)
		}
	}
	job.Status, job.FinishedAt = st, &now
	if err := f.cfg.Store.UpdateJob(ctx, job); err != nil {
		f.log.Error("record failed job", "job", job.ID, "err", err)
	}
}

// runJob runs every run with the job's concurrency limit, then finishes the job.
func (f *Foreman) runJob(ctx context.Context, aj *activeJob, hosts []gaffer.Host) {
	defer f.wg.Done()
	sem := make(chan struct{}, aj.job.Concurrency)
	var wg sync.WaitGroup
	for i := range hosts {
		aj.mu.Lock()
		ended := aj.job.Runs[i].Status.Done() // before a restart (resume.go)
		aj.mu.Unlock()
		if ended {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				f.runOne(ctx, aj, i, &hosts[i])
			case <-ctx.Done():
				if !errors.Is(context.Cause(ctx), errSuspend) { // else it stays queued
					f.endRun(aj, i, statusFor(context.Cause(ctx)), nil, "", context.Cause(ctx).Error())
				}
			}
		}(i)
	}
	wg.Wait()
	if errors.Is(context.Cause(ctx), errSuspend) && !aj.snapshot().Status.Done() {
		f.suspendJob(aj)
		aj.cancel(nil)
		return
	}
	f.finishJob(aj)
	aj.cancel(nil)
}

// runOne is one worker: it runs the command on one host and records the result.
func (f *Foreman) runOne(ctx context.Context, aj *activeJob, i int, host *gaffer.Host) {
	f.stats.ActiveRuns.Add(1)
	defer f.stats.ActiveRuns.Add(-1)
	now := time.Now().UTC()
	aj.mu.Lock()
	run := aj.job.Runs[i]
	run.Status = gaffer.StatusRunning
	if run.StartedAt == nil { // a run resumed after a restart keeps its start
		run.StartedAt = &now
	}
	// The job row changes with its first run only: 200 runs starting
	// together would otherwise queue 200 identical writes on the store.
	jobChanged := aj.job.StartedAt == nil
	if jobChanged {
		aj.job.StartedAt = &now
	}
	if st := gaffer.DeriveStatus(aj.job.Runs); st != aj.job.Status {
		aj.job.Status, jobChanged = st, true
	}
	runCopy, jobCopy := *run, copyJob(aj.job)
	aj.mu.Unlock()
	sctx, cancel := f.storeCtx()
	if err := f.cfg.Store.UpdateRun(sctx, jobCopy.ID, &runCopy); err != nil {
		f.log.Error("record run start", "job", jobCopy.ID, "host", host.Name, "err", err)
	}
	if jobChanged {
		if err := f.cfg.Store.UpdateJob(sctx, jobCopy); err != nil {
			f.log.Error("record job start", "job", jobCopy.ID, "err", err)
		}
	}
	cancel()
	if len(jobCopy.Follow) > 0 {
		f.runFollow(ctx, aj, i, host, jobCopy)
		return
	}

	exec := f.cfg.Executor
	where := fmt.Sprintf("%s (%s)", host.Name, hostAddr(host))
	if host.Local {
		exec, where = f.cfg.Local, host.Name+" (this server)"
	}
	aj.log.system(host.Name, aj.masker.String("running on "+where+": "+jobCopy.Command))
	if exec == nil {
		f.endRun(aj, i, gaffer.StatusFailed, nil, "", "no executor for host "+host.Name)
		return
	}
	// The worker's own capture, as masked, is the source of truth: its
	// checksum is compared with the archive once the run ends.
	outSum, errSum := newCheckSum(), newCheckSum()
	stdout := gaffer.NewFramer(host.Name, gaffer.Stdout, 0, 0, aj.log.emit)
	stderr := gaffer.NewFramer(host.Name, gaffer.Stderr, 0, 0, aj.log.emit)
	stdout.SetMasker(aj.masker)
	stderr.SetMasker(aj.masker)
	stdout.SetCapture(outSum)
	stderr.SetCapture(errSum)
	res := exec.Exec(ctx, host, gaffer.ExecSpec{Command: jobCopy.Command, PTY: jobCopy.PTY, Env: aj.secrets},
		stdout, stderr)
	stdout.Close()
	stderr.Close()
	aj.addCheck(host.Name, outSum, errSum)

	status, errText := gaffer.StatusSucceeded, ""
	var code *int
	switch {
	case ctx.Err() != nil:
		status, errText = statusFor(context.Cause(ctx)), context.Cause(ctx).Error()
	case res.Err != nil:
		status, errText = gaffer.StatusFailed, gaffer.ErrorMessage(res.Err)
		if gaffer.ErrorCode(res.Err) == gaffer.EINTERNAL {
			errText = res.Err.Error()
		}
	case res.Signal != "":
		status, errText = gaffer.StatusFailed, "killed by signal "+res.Signal
	case res.ExitCode != 0:
		status = gaffer.StatusFailed
	}
	if res.Err == nil && res.Signal == "" && res.ExitCode >= 0 {
		c := res.ExitCode
		code = &c
	}
	f.endRun(aj, i, status, code, res.Signal, errText)
}

// summed returns emit that also adds the records' bytes to sum (a follow
// job's: records of several files, not one Framer's capture). Its caller
// calls it from one goroutine at a time; buf is kept from chunk to chunk.
func summed(sum hash.Hash, emit func([]gaffer.Record)) func([]gaffer.Record) {
	var buf bytes.Buffer
	return func(recs []gaffer.Record) {
		buf.Reset()
		gaffer.Rebuild(&buf, recs)
		sum.Write(buf.Bytes())
		emit(recs)
	}
}

// masker hides the server-wide secrets and the job's; nil if none.
func (f *Foreman) masker(secrets map[string]string) *gaffer.Masker {
	values := append([]string(nil), f.cfg.Secrets...)
	for _, v := range secrets {
		values = append(values, v)
	}
	return gaffer.NewMasker(values...)
}

func hostAddr(h *gaffer.Host) string {
	port := h.Port
	if port == 0 {
		port = 22
	}
	addr := fmt.Sprintf("%s:%d", h.Address, port)
	if h.User != "" {
		addr = h.User + "@" + addr
	}
	return addr
}

func statusFor(cause error) gaffer.Status {
	switch {
	case errors.Is(cause, errTimeout):
		return gaffer.StatusTimedOut
	case errors.Is(cause, errShutdown), errors.Is(cause, errLostLease):
		return gaffer.StatusInterrupted
	}
	return gaffer.StatusCanceled
}

// newCheckSum returns a checksum for the archive check: maphash, 64 bits
// seeded once per process, four times as fast as SHA-256 on this path (the
// worker sums every byte it gets as it gets it). The check finds a log the
// archive does not hold exactly, within one process: no attacker picks
// the bytes on both sides, so a keyed fast hash is enough.
func newCheckSum() hash.Hash { h := new(maphash.Hash); h.SetSeed(checkSeed); return h }

var checkSeed = maphash.MakeSeed()

// runCheck is what a worker received from one host, as checksums.
type runCheck struct {
	host     string
	out, err hash.Hash
}

func (a *activeJob) addCheck(host string, out, err hash.Hash) {
	a.mu.Lock()
	a.checks = append(a.checks, runCheck{host, out, err})
	a.mu.Unlock()
}

// verify compares the archived bytes of each run's streams with the
// checksums of what its worker received: the worker's capture is the source
// of truth. It reads the whole log back, so it runs after the job has
// ended, one job at a time, off every viewer's path.
func (f *Foreman) verify(ctx context.Context, jobID int64, checks []runCheck) {
	f.verifying.Lock()
	defer f.verifying.Unlock()
	type key struct {
		host   string
		stream gaffer.Stream
	}
	got := map[key]hash.Hash{}
	for _, c := range checks {
		got[key{c.host, gaffer.Stdout}] = newCheckSum()
		got[key{c.host, gaffer.Stderr}] = newCheckSum()
	}
	if len(got) <= verifyRawStreams {
		// Few streams: each one's bytes straight from the archive (Raw
		// streams the log without making a record of each frame).
		for k, h := range got {
			if err := f.cfg.Archive.Raw(ctx, jobID, k.host, k.stream, h); err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
				if ctx.Err() == nil {
					f.log.Error("verify archived log", "job", jobID, "err", err)
				}
				return
			}
		}
		f.compareChecks(jobID, checks, func(host string, s gaffer.Stream) hash.Hash { return got[key{host, s}] })
		return
	}
	nl := []byte{'\n'}
	for after := int64(0); ; {
		recs, end, err := f.cfg.Archive.Read(ctx, jobID, after, verifyBatch)
		if gaffer.ErrorCode(err) == gaffer.ENOTFOUND {
			break
		} else if err != nil {
			if ctx.Err() == nil {
				f.log.Error("verify archived log", "job", jobID, "err", err)
			}
			return
		}
		for i := range recs {
			r := &recs[i]
			if h := got[key{r.Host, r.Stream}]; h != nil {
				h.Write(r.Data)
				if r.NL {
					h.Write(nl)
				}
			}
		}
		if end || len(recs) == 0 {
			break
		}
		after = recs[len(recs)-1].Seq
	}
	f.compareChecks(jobID, checks, func(host string, s gaffer.Stream) hash.Hash { return got[key{host, s}] })
}

// compareChecks logs and counts each stream whose archived bytes (their
// checksum from archived) differ from what the worker received.
func (f *Foreman) compareChecks(jobID int64, checks []runCheck, archived func(host string, s gaffer.Stream) hash.Hash) {
	for _, c := range checks {
		for _, s := range []struct {
			stream gaffer.Stream
			sum    hash.Hash
		}{{gaffer.Stdout, c.out}, {gaffer.Stderr, c.err}} {
			if want, have := s.sum.Sum(nil), archived(c.host, s.stream).Sum(nil); !bytes.Equal(want, have) {
				f.stats.ArchiveErrors.Add(1)
				f.log.Error("archived log differs from what the host sent", "job", jobID, "host", c.host, "stream", s.stream,
					"received_sum", hex.EncodeToString(want), "archived_sum", hex.EncodeToString(have))
			}
		}
	}
}

// verifyBatch is how many records the archive check reads at a time.
const verifyBatch = 4096

// verifyRawStreams: up to this many streams (a job on two hosts), the check
// reads each stream's bytes with Archive.Raw, a pass over the log each,
// rather than all of them in one pass of Archive.Read: one Read pass, which
// makes a Record of every frame, cost about five Raw passes (5 M lines of
// `seq`: 23 s against 4.3 s, under the same load).
const verifyRawStreams = 4

// endRun records a run's end: a system line, the archive made durable, the store.
func (f *Foreman) endRun(aj *activeJob, i int, status gaffer.Status, code *int, signal, errText string) {
	now := time.Now().UTC()
	aj.mu.Lock()
	run := aj.job.Runs[i]
	run.Status, run.ExitCode, run.Signal, run.Error, run.FinishedAt = status, code, signal, errText, &now
	runCopy := *run
	jobID := aj.job.ID
	aj.mu.Unlock()

	msg := string(status)
	if code != nil {
		msg = fmt.Sprintf("exit status %d", *code)
	}
	if errText != "" {
		msg += ": " + errText
	}
	if runCopy.StartedAt != nil {
		msg += fmt.Sprintf(" (%s)", now.Sub(*runCopy.StartedAt).Round(time.Millisecond))
	}
	// The run's output is durable before its end is stored, and its end
	// is stored before the line that says so: that line sends every
	// viewer's stream a status event, and one on another instance reads
	// the run from the store. (The line itself is made durable with the
	// next sync: another run's end, or the job's.)
	aj.log.sync()
	sctx, cancel := f.storeCtx()
	defer cancel()
	if err := f.cfg.Store.UpdateRun(sctx, jobID, &runCopy); err != nil {
		f.log.Error("record run end", "job", jobID, "host", runCopy.Host, "err", err)
	}
	aj.log.system(runCopy.Host, msg)
	f.stats.runFinished(status)

	// The job's status follows from its runs; store it when it changes.
	aj.mu.Lock()
	st := gaffer.DeriveStatus(aj.job.Runs)
	if st.Done() {
		// The job ends in finishJob, with its log complete: until then
		// readers see it running.
		st = gaffer.StatusRunning
	}
	changed := st != aj.job.Status
	aj.job.Status = st
	jobCopy := copyJob(aj.job)
	aj.mu.Unlock()
	if changed {
		if err := f.cfg.Store.UpdateJob(sctx, jobCopy); err != nil {
			f.log.Error("record job status", "job", jobID, "err", err)
		}
	}
}

// finishJob completes the archive, stores the final status, and only then
// closes the live log, so a reader that finds the live log gone finds the
// archive complete; a complete archive lets the live buffer go at once. If
// the archive could not be written whole, the job fails saying that its log
// is incomplete, the archive is sealed as far as it got, and the live
// buffer lingers with the records the archive lacks.
func (f *Foreman) finishJob(aj *activeJob) {
	ctx := context.Background()
	now := time.Now().UTC()
	id := aj.job.ID // set once, before the job's goroutines start
	complete := true
	aj.log.alerts.stop() // its last lines go in the log
	if err := aj.log.complete(); err != nil {
		complete = false
		f.stats.LogsIncomplete.Add(1)
		f.log.Error("the job's log is incomplete", "job", id, "err", err)
		f.seal(ctx, id)
		f.markIncomplete(aj, "the log is incomplete: "+aj.log.lost())
	}
	aj.mu.Lock()
	aj.job.Status = gaffer.DeriveStatus(aj.job.Runs)
	aj.job.FinishedAt = &now
	job := copyJob(aj.job)
	aj.mu.Unlock()
	job.Webhooks = aj.log.alerts.states()

	sctx, cancel := f.storeCtx()
	if err := f.cfg.Store.UpdateJob(sctx, job); err != nil {
		f.log.Error("record job end", "job", job.ID, "err", err)
	}
	cancel()
	if !aj.log.finish() {
		f.liveUnclosed.Store(job.ID, struct{}{})
	}
	f.mu.Lock()
	delete(f.active, job.ID)
	f.finished[job.ID] = job
	f.mu.Unlock()
	f.stats.ActiveJobs.Add(-1)
	f.slots.Add(-1)
	f.closeAlerts(aj)
	f.log.Info("job finished", "job", job.ID, "status", job.Status)
	// A log that dropped its oldest part (Job.Retain) no longer holds what
	// the checksums cover.
	if !aj.log.failed() && !aj.log.retain.trimmed() {
		aj.mu.Lock()
		checks := aj.checks
		aj.mu.Unlock()
		// runJob holds the foreman's wait open, so this Add is not from zero.
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.verify(f.bg, job.ID, checks)
		}()
	}
	f.forgetLater(job.ID)
	if complete {
		// Readers find the whole log in the archive now, and a finished
		// job keeps no memory.
		if err := f.cfg.Live.Delete(ctx, job.ID); err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
			f.log.Error("delete live log", "job", job.ID, "err", err)
			f.dropLiveLater(job.ID) // try again
		} else {
			f.liveUnclosed.Delete(job.ID)
		}
	} else {
		f.dropLiveLater(job.ID)
	}
}

// seal completes an archived log whose writer failed, so that it is not
// left partial for ever: readers get what it holds, and its end.
func (f *Foreman) seal(ctx context.Context, id int64) {
	s, ok := f.cfg.Archive.(interface {
		Seal(ctx context.Context, jobID int64) error
	})
	if !ok {
		return
	}
	if err := s.Seal(ctx, id); err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		f.log.Error("seal the incomplete log", "job", id, "err", err)
	}
}

// markIncomplete fails every run of a job whose log is incomplete, adding
// why to its error: what the runs printed is not all kept.
func (f *Foreman) markIncomplete(aj *activeJob, why string) {
	aj.mu.Lock()
	var runs []gaffer.Run
	for _, r := range aj.job.Runs {
		if r.Status == gaffer.StatusSucceeded {
			r.Status = gaffer.StatusFailed
		}
		if r.Error == "" {
			r.Error = why
		} else {
			r.Error += "; " + why
		}
		runs = append(runs, *r)
	}
	aj.mu.Unlock()
	sctx, cancel := f.storeCtx()
	defer cancel()
	for i := range runs {
		if err := f.cfg.Store.UpdateRun(sctx, aj.job.ID, &runs[i]); err != nil {
			f.log.Error("record incomplete log", "job", aj.job.ID, "host", runs[i].Host, "err", err)
		}
	}
}

// forgetLater drops a finished job's state from memory after LiveLinger:
// by then its viewers have had their end event.
func (f *Foreman) forgetLater(id int64) {
	f.afterLinger(func() {
		f.mu.Lock()
		delete(f.finished, id)
		f.mu.Unlock()
		f.kept.Delete(id)
	})
}

// dropLiveLater deletes a finished job's live buffer after LiveLinger: its
// archive failed or was sealed after a crash, so the buffer may hold records
// the archive lacks. Shutdown cancels what is still pending: a Redis buffer
// expires by itself, a memory one goes with the process.
func (f *Foreman) dropLiveLater(id int64) {
	f.afterLinger(func() {
		err := f.cfg.Live.Delete(context.Background(), id)
		if err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
			f.log.Error("delete live log", "job", id, "err", err)
		} else {
			f.liveUnclosed.Delete(id)
		}
	})
}

// afterLinger runs fn after LiveLinger unless Shutdown comes first.
func (f *Foreman) afterLinger(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(f.cfg.LiveLinger, func() {
		f.mu.Lock()
		delete(f.lingering, t)
		f.mu.Unlock()
		fn()
	})
	f.lingering[t] = true
}

// Cancel stops a running job: its runs end as canceled.
func (f *Foreman) Cancel(ctx context.Context, id int64) (*gaffer.Job, error) {
	f.mu.Lock()
	aj := f.active[id]
	f.mu.Unlock()
	if aj == nil {
		// Another instance may run it: its owner picks the request up with
		// its next heartbeat.
		if err := f.cfg.Store.RequestCancel(ctx, id); err != nil {
			return nil, err
		}
		return f.cfg.Store.FindJob(ctx, id)
	}
	// Its status is final only once finishJob runs: it has ended, and is
	// being finished (its end stored, its log completed). A finished job
	// is a conflict, as the store says of one that left this instance.
	if j := aj.snapshot(); j.Status.Done() {
		return nil, gaffer.Errorf(gaffer.ECONFLICT, "job %d is already %s", id, j.Status)
	}
	aj.cancel(errCanceled)
	return aj.snapshot(), nil
}

// Job returns a job: from memory while it runs here and until its live
// buffer is dropped, else from the store. Viewers look their job up on
// every connection and status change: thousands of them cost no query.
func (f *Foreman) Job(ctx context.Context, id int64) (*gaffer.Job, error) {
	f.mu.Lock()
	aj, done := f.active[id], f.finished[id]
	f.mu.Unlock()
	if aj != nil {
		return aj.snapshot(), nil
	} else if done != nil {
		return copyJob(done), nil
	}
	return f.cfg.Store.FindJob(ctx, id)
}

// Jobs lists jobs, newest first, with running ones shown as they are now.
func (f *Foreman) Jobs(ctx context.Context, filter gaffer.JobFilter) ([]*gaffer.Job, error) {
	jobs, err := f.cfg.Store.FindJobs(ctx, filter)
	if err != nil {
		return nil, err
	}
	for i, j := range jobs {
		f.mu.Lock()
		aj := f.active[j.ID]
		f.mu.Unlock()
		if aj != nil {
			jobs[i] = aj.snapshot()
		}
	}
	return jobs, nil
}

func (f *Foreman) stopLingering() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for t := range f.lingering {
		t.Stop()
	}
	clear(f.lingering)
}

// Shutdown interrupts every running job (but follow jobs that resume when
// the server starts again: Suspended lists them), waits for the workers to record it
// (until ctx ends), and returns the ids of the jobs it interrupted.
func (f *Foreman) Shutdown(ctx context.Context) ([]int64, error) {
	f.mu.Lock()
	f.closing = true
	var ids []int64
	for id, aj := range f.active {
		aj.mu.Lock()
		finishing := aj.job.Status.Done() // its runs ended: not interrupted
		why := f.resumable(aj.job, len(aj.secrets) > 0)
		aj.mu.Unlock()
		if why == "" && aj.log.failed() {
			why = "its log is incomplete"
		}
		switch {
		case finishing:
		case why == "":
			f.suspendedIDs = append(f.suspendedIDs, id)
			aj.cancel(errSuspend)
		default:
			ids = append(ids, id)
			aj.cancel(errShutdown)
		}
	}
	slices.Sort(f.suspendedIDs)
	f.mu.Unlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	defer f.stopLingering()
	defer f.stopBg() // archive checks still going give up
	select {
	case <-done:
		return ids, nil
	case <-ctx.Done():
		return ids, fmt.Errorf("workers still running after the shutdown grace period: %w", ctx.Err())
	}
}
