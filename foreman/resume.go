package foreman

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Follow jobs outlive the server process (embedded mode): a graceful stop
// leaves them running in the store with the exact position of each file
// (suspend), and Recover starts them again, each file at the byte it had
// reached, with the same job id and seqs continuing. After a crash the
// stored positions may be behind the archive (they are stored at most
// every followStoreEvery): advance moves them past what the archive holds.

// errSuspend ends a follow job's runs when the server stops gracefully and
// the job will resume when it starts again: they stay running.
var errSuspend = errors.New("the server is stopping; the job resumes when it starts again")

// archiveReopener is an archive that can write on a partial log.
type archiveReopener interface {
	Reopen(ctx context.Context, jobID int64) (gaffer.ArchiveWriter, int64, error)
}

// followResume is where one run of a resumed job goes on.
type followResume struct {
	positions []gaffer.FilePosition
	// why the positions could not be moved past what the archive holds
	// after the stored ones ("" if they were, or need not be).
	why  string
	none bool // no position was ever stored
}

// resumable says why a follow job cannot go on after this server stops,
// "" if it can.
func (f *Foreman) resumable(job *gaffer.Job, jobSecrets bool) string {
	switch {
	case len(job.Follow) == 0:
		return "not a follow job"
	case f.cfg.Shared:
		// Other instances interrupt the jobs of an instance that went
		// silent; nobody would resume it.
		return "the server shares its database with others"
	case job.Retain != "":
		return "a follow job that keeps a window of its log (retain) cannot resume after a restart yet"
	case jobSecrets:
		return "the job's secrets are not kept across a restart, so its output could not be masked"
	}
	if _, ok := f.cfg.Archive.(archiveReopener); !ok {
		return "the log archive cannot be written on again"
	}
	return ""
}

// advance moves the positions a run stored (taken at some seq) past the
// run's records that the archive holds after that seq, which crashed
// before the next store: each line adds its bytes, newline included. When
// the records do not say which file (inode) a line came from — a file
// opened, rotated or truncated after the stored positions, two files under
// one path, a secret masked in a line (masking changes its length) — it
// returns the positions unchanged and why: those lines will be read again.
// System lines about the connection (away, back) change nothing.
func advance(host string, pos []gaffer.FilePosition, recs []gaffer.Record, masked bool) ([]gaffer.FilePosition, string) {
	out := slices.Clone(pos)
	for i := range recs {
		r := &recs[i]
		if r.Host != host {
			continue
		}
		switch {
		case r.Stream == gaffer.System:
			text := string(r.Data)
			if strings.HasPrefix(text, host+saidAway) || strings.HasPrefix(text, host+saidStillAway) ||
				strings.HasPrefix(text, host+saidBack) {
				continue
			}
			return pos, fmt.Sprintf("%q came after them", text)
		case r.Stream == gaffer.Stdout && r.File != "":
			at := -1
			for j, p := range out {
				if p.Path == r.File {
					if at >= 0 {
						return pos, fmt.Sprintf("two files were read under %s", r.File)
					}
					at = j
				}
			}
			if at < 0 {
				return pos, fmt.Sprintf("%s was not followed yet", r.File)
			}
			if masked && bytes.Contains(r.Data, []byte(gaffer.Masked)) {
				return pos, fmt.Sprintf("a line of %s may hold a masked secret", r.File)
			}
			out[at].Offset += int64(len(r.Data))
			if r.NL {
				out[at].Offset++
			}
		default:
			return pos, fmt.Sprintf("a %s record came after them", r.Stream)
		}
	}
	return out, ""
}

// resumeAt reads the run's records archived after its stored positions and
// says where its files go on.
func (f *Foreman) resumeAt(ctx context.Context, jobID int64, run *gaffer.Run, masked bool) (*followResume, error) {
	st := run.Follow
	if st == nil || len(st.Positions) == 0 {
		return &followResume{none: true}, nil
	}
	var recs []gaffer.Record
	for after := st.Seq; ; {
		got, _, err := f.cfg.Archive.ReadRange(ctx, jobID, gaffer.LogRange{Filter: gaffer.LogFilter{Host: run.Host}, After: after, Limit: 10000})
		if err != nil {
			return nil, fmt.Errorf("read the log after the stored positions: %w", err)
		}
		if len(got) == 0 {
			break
		}
		recs = append(recs, got...)
		after = got[len(got)-1].Seq
	}
	pos, why := advance(run.Host, st.Positions, recs, masked)
	return &followResume{positions: pos, why: why}, nil
}

// resumeLines say, in the run's log, where it goes on.
func (r *followResume) lines(host string, job *gaffer.Job) []string {
	if r.none {
		from := "end (lines written while it was stopped are not read)"
		if job.From == "start" {
			from = "start again (lines read before may appear twice)"
		}
		return []string{fmt.Sprintf("server restarted; no position of %s was stored before it stopped: following its files from their %s", host, from)}
	}
	var out []string
	if r.why != "" {
		out = append(out, fmt.Sprintf("server restarted; the lines of %s archived after its last stored positions cannot be matched to their files (%s): resuming at those positions, so up to %s of lines may appear twice",
			host, r.why, followStoreEvery))
	}
	for _, p := range r.positions {
		out = append(out, fmt.Sprintf("server restarted; resuming %s from %s at byte %d", host, p.Path, p.Offset))
	}
	return out
}

// maxUnfinishedPage is how many unfinished jobs Recover reads at a time.
const maxUnfinishedPage = 500

// unfinished lists the jobs left queued or running, oldest first.
func (f *Foreman) unfinished(ctx context.Context) ([]*gaffer.Job, error) {
	var all []*gaffer.Job
	for _, st := range []gaffer.Status{gaffer.StatusRunning, gaffer.StatusQueued} {
		for before := int64(0); ; {
			jobs, err := f.cfg.Store.FindJobs(ctx, gaffer.JobFilter{Status: st, Before: before, Limit: maxUnfinishedPage})
			if err != nil {
				return nil, err
			}
			all = append(all, jobs...)
			if len(jobs) < maxUnfinishedPage {
				break
			}
			before = jobs[len(jobs)-1].ID
		}
	}
	slices.SortFunc(all, func(a, b *gaffer.Job) int { return int(a.ID - b.ID) })
	return all, nil
}

// recoverFollow starts again the follow jobs a previous process left
// running, and returns the other unfinished jobs (and the follow jobs that
// cannot go on, with why), to be interrupted. ok false: no follow job
// among them (or they could not be listed): the caller interrupts every
// unfinished job at once, as before follow jobs resumed.
func (f *Foreman) recoverFollow(ctx context.Context) (interrupt []*gaffer.Job, reasons map[int64]string, ok bool) {
	jobs, err := f.unfinished(ctx)
	if err != nil {
		f.log.Warn("list unfinished jobs to resume follow jobs; every one is interrupted", "err", err)
		return nil, nil, false
	}
	reasons = map[int64]string{}
	follow := false
	for _, job := range jobs {
		if len(job.Follow) == 0 {
			interrupt = append(interrupt, job)
			continue
		}
		follow = true
		jobSecrets := false
		for _, r := range job.Runs {
			jobSecrets = jobSecrets || r.Follow != nil && r.Follow.JobSecrets
		}
		why := f.resumable(job, jobSecrets)
		if why == "" {
			if err := f.resume(ctx, job); err != nil {
				f.log.Error("resume a follow job", "job", job.ID, "err", err)
				why = "it could not be resumed: " + gaffer.ErrorMessage(err)
			}
		}
		if why != "" {
			interrupt, reasons[job.ID] = append(interrupt, job), why
			continue
		}
		f.resumedIDs = append(f.resumedIDs, job.ID)
	}
	if !follow {
		return nil, nil, false
	}
	return interrupt, reasons, true
}

// Resumed returns the ids of the follow jobs Recover started again.
func (f *Foreman) Resumed() []int64 { return slices.Clone(f.resumedIDs) }

// Suspended returns the ids of the follow jobs Shutdown left to resume
// when the server starts again.
func (f *Foreman) Suspended() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.suspendedIDs)
}

// interruptJobs marks jobs interrupted one by one, as InterruptUnfinished
// does all at once, with why added to their runs' error.
func (f *Foreman) interruptJobs(ctx context.Context, jobs []*gaffer.Job, reasons map[int64]string) []int64 {
	now := time.Now().UTC()
	var ids []int64
	for _, job := range jobs {
		reason := "the server stopped before the run ended"
		if why := reasons[job.ID]; why != "" {
			reason += "; " + why
		}
		for _, r := range job.Runs {
			if r.Status.Done() {
				continue
			}
			r.Status, r.FinishedAt = gaffer.StatusInterrupted, &now
			if r.Error == "" {
				r.Error = reason
			}
			if r.Follow != nil {
				r.Follow.State, r.Follow.Since, r.Follow.Message = gaffer.FollowStopped, &now, ""
			}
			if err := f.cfg.Store.UpdateRun(ctx, job.ID, r); err != nil {
				f.log.Error("record interrupted run", "job", job.ID, "host", r.Host, "err", err)
			}
		}
		job.Status, job.FinishedAt = gaffer.StatusInterrupted, &now
		if err := f.cfg.Store.UpdateJob(ctx, job); err != nil {
			f.log.Error("record interrupted job", "job", job.ID, "err", err)
		}
		ids = append(ids, job.ID)
	}
	return ids
}

// resume starts a follow job again: its log reopened after its last whole
// record, each running run at its files' positions.
func (f *Foreman) resume(ctx context.Context, job *gaffer.Job) error {
	aw, last, err := f.cfg.Archive.(archiveReopener).Reopen(ctx, job.ID)
	if err != nil {
		return fmt.Errorf("reopen its log: %w", err)
	}
	masker := f.masker(nil)
	at := make([]*followResume, len(job.Runs))
	for i, r := range job.Runs {
		if r.Status != gaffer.StatusRunning {
			continue // queued runs start afresh; ended ones stay ended
		}
		if at[i], err = f.resumeAt(ctx, job.ID, r, masker != nil); err != nil {
			aw.Close()
			return err
		}
	}
	// A live buffer left by the previous process (Redis) is stale.
	if err := f.cfg.Live.Delete(ctx, job.ID); err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		f.log.Warn("delete the stale live log of a resumed job", "job", job.ID, "err", err)
	}
	if err := f.cfg.Live.Create(ctx, job.ID); err != nil {
		aw.Close()
		return fmt.Errorf("create its live log: %w", err)
	}

	byName := map[string]gaffer.Host{}
	for _, h := range f.cfg.Hosts() {
		byName[h.Name] = h
	}
	hosts := make([]gaffer.Host, len(job.Runs))
	var gone []int
	for i, r := range job.Runs {
		h, ok := byName[r.Host]
		if !ok && !r.Status.Done() {
			gone = append(gone, i)
		}
		hosts[i] = h
	}

	f.slots.Add(1)
	f.wg.Add(1) // runJob ends it
	jctx, cancel := context.WithCancelCause(context.Background())
	if job.Timeout > 0 {
		start := job.CreatedAt
		if job.StartedAt != nil {
			start = *job.StartedAt
		}
		var stop context.CancelFunc
		jctx, stop = context.WithDeadlineCause(jctx, start.Add(time.Duration(job.Timeout)), errTimeout)
		prev := cancel
		cancel = func(cause error) { prev(cause); stop() }
	}
	aj := &activeJob{job: copyJob(job), cancel: cancel, masker: masker, resume: at,
		log: newJobLog(job.ID, aw, f.cfg.Live, &f.stats, f.log)}
	aj.log.seq = last
	aj.log.alerts = newAlerter(job.ID, job.Alerts, f.cfg.Webhooks, aj.log)
	f.mu.Lock()
	f.active[job.ID] = aj
	f.mu.Unlock()
	f.stats.ActiveJobs.Add(1)
	f.log.Info("follow job resumed", "job", job.ID, "after_seq", last)
	for _, i := range gone {
		f.endRun(aj, i, gaffer.StatusFailed, nil, "", "host "+job.Runs[i].Host+" is no longer in the inventory")
	}
	go f.runJob(jctx, aj, hosts)
	return nil
}

// suspendJob leaves a follow job whose runs stopped with errSuspend as the
// store has it, running: its log made durable but not complete, its live
// log left open (viewers must not see an end), for Recover to go on.
func (f *Foreman) suspendJob(aj *activeJob) {
	aj.log.alerts.stop()
	aj.log.suspend()
	aj.log.alerts.close() // what the webhooks hold gets its last short try
	f.mu.Lock()
	delete(f.active, aj.job.ID)
	f.mu.Unlock()
	f.stats.ActiveJobs.Add(-1)
	f.slots.Add(-1)
	f.log.Info("follow job left to resume when the server starts again", "job", aj.job.ID)
}

// errSuspended stops writes to a suspended job's archive.
var errSuspended = errors.New("the job was left to resume after a restart")

// suspend makes the archive durable and releases it, not complete.
func (l *jobLog) suspend() {
	l.retain.close(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.archiveErr == nil {
		if err := l.aw.Sync(); err != nil {
			l.logger.Error("archive sync failed", "job", l.jobID, "err", err)
		}
		l.aw.Close()
		l.archiveErr = errSuspended
	}
}

// lastSeq is the seq of the last record numbered.
func (l *jobLog) lastSeq() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}
