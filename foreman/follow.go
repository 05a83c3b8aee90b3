package foreman

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// followStoreEvery spaces out the store writes that only move positions: a
// state change is written at once, positions at most this often (and at
// the end), so a busy log costs the database nothing per line.
const followStoreEvery = 5 * time.Second

// runFollow is the worker of a follow job's run: it follows the host's
// files until the job ends (canceled, timed out, server stopping), turning
// the follower's events into records and the run's follow state. The run
// stays running meanwhile; a follower that gives up fails it.
func (f *Foreman) runFollow(ctx context.Context, aj *activeJob, i int, host *gaffer.Host, job *gaffer.Job) {
	fw, where := f.cfg.Follower, fmt.Sprintf("%s (%s)", host.Name, hostAddr(host))
	if host.Local {
		fw, where = f.cfg.LocalFollower, host.Name+" (this server)"
	}
	var resume *followResume // the run goes on after a restart
	if aj.resume != nil {
		resume = aj.resume[i]
	}
	from := "their end (new lines only)"
	if job.From == "start" {
		from = "their start"
	}
	if resume == nil {
		aj.log.system(host.Name, aj.masker.String(fmt.Sprintf("following on %s: %s, from %s", where, strings.Join(job.Follow, ", "), from)))
	}
	if fw == nil {
		what := "remote hosts"
		if host.Local {
			what = "this server's own host (local)"
		}
		f.endRun(aj, i, gaffer.StatusFailed, nil, "", "this server cannot follow files on "+what)
		return
	}

	spec := gaffer.FollowSpec{Paths: job.Follow, FromStart: job.From == "start"}
	fr := &followRun{f: f, aj: aj, i: i, host: host.Name, patterns: job.Follow,
		pos: gaffer.NewFollowPositions(nil), dirty: make(chan struct{}, 1), stop: make(chan struct{})}
	now := time.Now().UTC()
	fr.update(func(st *gaffer.FollowState) {
		st.State, st.Since = gaffer.FollowConnecting, &now
		st.JobSecrets = len(aj.secrets) > 0
	}, false)
	if resume != nil {
		for _, text := range resume.lines(host.Name, job) {
			aj.log.system(host.Name, aj.masker.String(text))
		}
		spec.Positions = resume.positions
		fr.pos = gaffer.NewFollowPositions(resume.positions)
	}
	// Stored at once: a restart before the first event resumes from here.
	fr.checkpoint(false)
	fr.store()
	written := make(chan struct{})
	go func() { defer close(written); fr.writer() }()

	// The worker's capture is checked against the archive at the end, as a
	// command's is; not when the job drops old parts of its log.
	sum := newCheckSum()
	// Nor after a restart: the archive holds what the last process got.
	fr.out = aj.log.emit
	check := job.Retain == "" && resume == nil
	if check {
		fr.out = summed(sum, aj.log.emit)
	}
	err := fw.Follow(ctx, host, spec, fr.emit)
	close(fr.stop)
	<-written
	if errors.Is(context.Cause(ctx), errSuspend) {
		// The run stays running, its exact positions stored, to go on
		// when the server starts again (resume.go).
		aj.log.system(host.Name, fmt.Sprintf("the server is stopping: %s resumes where each file stands when it starts again", host.Name))
		fr.checkpoint(false)
		fr.store()
		return
	}
	// endRun stores the run with this last state.
	ended := time.Now().UTC()
	fr.update(func(st *gaffer.FollowState) {
		st.State, st.Since, st.Message = gaffer.FollowStopped, &ended, ""
	}, false)
	if check {
		aj.addCheck(host.Name, sum, newCheckSum())
	}

	switch {
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		f.endRun(aj, i, statusFor(cause), nil, "", cause.Error())
	case err == nil:
		f.endRun(aj, i, gaffer.StatusFailed, nil, "", "following the files stopped without a reason")
	default:
		msg := gaffer.ErrorMessage(err)
		if gaffer.ErrorCode(err) == gaffer.EINTERNAL {
			msg = err.Error()
		}
		f.endRun(aj, i, gaffer.StatusFailed, nil, "", "following the files stopped: "+msg)
	}
}

// followRun is one run of a follow job while it follows.
type followRun struct {
	f        *Foreman
	aj       *activeJob
	i        int
	host     string
	patterns []string
	out      func([]gaffer.Record)
	pos      *gaffer.FollowPositions

	// files is the state of each followed path, kept by the follower's
	// goroutine only; Run.Follow.Files is made from it.
	files map[string]*fileTrack
	dirty chan struct{} // a state change to store now
	stop  chan struct{} // the follow is over: store the last state and end
}

// fileTrack is one path's state, and the files (inodes) read under it: a
// rotated file is read to its end while its successor is followed.
type fileTrack struct {
	st  gaffer.FileState
	ids map[string]bool // FileID -> being read to its end after a rotation
}

// emit takes one event of the follower. Lines: records first, then the
// positions (they move only after the records they cover went to the
// log). Other events: the state first, then their system line.
func (r *followRun) emit(ev gaffer.FollowEvent) error {
	if ev.Kind == gaffer.FollowLines {
		if recs := r.lines(ev); len(recs) > 0 {
			r.out(recs)
		}
		r.pos.Apply(ev)
		r.track(ev)
		r.checkpoint(false)
		return nil
	}
	// The state first, then its line: viewers are sent the job's state
	// with each of Gaffer's own lines, so it must already say the event.
	text := r.describe(ev) // before track: it tells "still unreachable"
	r.pos.Apply(ev)
	r.track(ev)
	if text != "" {
		r.aj.log.system(r.host, r.aj.masker.String(text))
	}
	r.checkpoint(true)
	return nil
}

// lines cuts an event's data into records of one line each, masked. The
// data holds complete lines, but for the pieces of a line longer than
// gaffer.MaxFollowLine and the unterminated end of a rotated or truncated
// file: those end without a newline (NL false).
func (r *followRun) lines(ev gaffer.FollowEvent) []gaffer.Record {
	data := ev.Data
	if m := r.aj.masker; m != nil {
		data = []byte(m.String(string(data)))
	}
	now := time.Now().UTC()
	recs := make([]gaffer.Record, 0, bytes.Count(data, []byte{'\n'})+1)
	for len(data) > 0 {
		line, rest, nl := bytes.Cut(data, []byte{'\n'})
		recs = append(recs, gaffer.Record{TS: now, Host: r.host, Stream: gaffer.Stdout, File: ev.Path,
			Data: slices.Clone(line), NL: nl})
		data = rest
	}
	return recs
}

// The words after the host's name in the lines that say a host went away
// or came back: a restart's resume (advance) knows them as lines that
// move no file.
const (
	saidAway      = " unreachable since "
	saidStillAway = " still unreachable "
	saidBack      = " back after "
)

// describe says what an event means, for a person reading the log; ""
// for events that only change the state.
func (r *followRun) describe(ev gaffer.FollowEvent) string {
	switch ev.Kind {
	case gaffer.FollowAway:
		since := ev.Since.UTC().Format("15:04:05 UTC")
		if r.state().State == gaffer.FollowReconnecting {
			return fmt.Sprintf("%s"+saidStillAway+"(since %s): %s; retrying", r.host, since, orElse(ev.Message, "no reason given"))
		}
		return fmt.Sprintf("%s"+saidAway+"%s: %s; retrying", r.host, since, orElse(ev.Message, "no reason given"))
	case gaffer.FollowOpened:
		// Which files a glob picked up, and when, is worth a line; a
		// resume after a reconnect is said by the back line.
		switch ev.Reason {
		case "start":
			if ev.Offset == 0 {
				return fmt.Sprintf("following %s from its start", ev.Path)
			}
			return fmt.Sprintf("following %s from its end (byte %d)", ev.Path, ev.Offset)
		case "new":
			return fmt.Sprintf("%s appeared: following it from its start", ev.Path)
		case "rotated":
			return fmt.Sprintf("%s: a new file; following it from its start", ev.Path)
		case "recreated":
			return fmt.Sprintf("%s was created again: following it from its start", ev.Path)
		}
	case gaffer.FollowBack:
		return fmt.Sprintf("%s"+saidBack+"%s: following again where each file stood", r.host, roundAway(ev.Away))
	case gaffer.FollowRotated:
		return fmt.Sprintf("%s rotated: %s", ev.Path, orElse(ev.Message, "reading it to its end"))
	case gaffer.FollowTruncated:
		return fmt.Sprintf("%s was truncated: reading it again from its start", ev.Path)
	case gaffer.FollowMissing:
		if ev.FileID == "" && slices.Contains(r.patterns, ev.Path) && isGlob(ev.Path) {
			return fmt.Sprintf("no file matches %s: files that appear are followed from their start", ev.Path)
		}
		return fmt.Sprintf("%s: no such file; it is followed from its start once it appears", ev.Path)
	case gaffer.FollowDone:
		if ev.Reason == "gone" {
			return fmt.Sprintf("%s: %s", ev.Path, orElse(ev.Message, "deleted or renamed out of sight: what was not read of it is lost"))
		}
	case gaffer.FollowError:
		if ev.Path != "" {
			return fmt.Sprintf("%s: %s", ev.Path, orElse(ev.Message, "an error"))
		}
		return orElse(ev.Message, "an error on the host")
	}
	return ""
}

func orElse(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

func isGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// roundAway shows how long a host was away: tenths below 10 s, seconds above.
func roundAway(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// state returns a copy of the run's follow state.
func (r *followRun) state() gaffer.FollowState {
	r.aj.mu.Lock()
	defer r.aj.mu.Unlock()
	if st := r.aj.job.Runs[r.i].Follow; st != nil {
		return *st
	}
	return gaffer.FollowState{}
}

// track updates the run's follow state from an event: the connection's
// state and each path's.
func (r *followRun) track(ev gaffer.FollowEvent) {
	now := time.Now().UTC()
	if r.files == nil {
		r.files = map[string]*fileTrack{}
	}
	file := func(p string) *fileTrack {
		t := r.files[p]
		if t == nil {
			t = &fileTrack{st: gaffer.FileState{Path: p}, ids: map[string]bool{}}
			r.files[p] = t
		}
		return t
	}
	set := func(t *fileTrack, state, msg string) {
		if t.st.State != state {
			t.st.Since = now
		}
		t.st.State, t.st.Message = state, msg
	}
	conn, connMsg := gaffer.FollowFollowing, ""
	var connSince time.Time
	switch ev.Kind {
	case gaffer.FollowLines:
		return
	case gaffer.FollowAway:
		conn, connMsg, connSince = gaffer.FollowReconnecting, ev.Message, ev.Since.UTC()
	case gaffer.FollowOpened:
		t := file(ev.Path)
		t.ids[ev.FileID] = false
		set(t, gaffer.FileFollowing, "")
		// A glob that matched nothing matches this file now.
		for p, g := range r.files {
			if p != ev.Path && g.st.State == gaffer.FileMissing && len(g.ids) == 0 {
				if ok, _ := path.Match(p, ev.Path); ok {
					delete(r.files, p)
				}
			}
		}
	case gaffer.FollowRotated:
		t := file(ev.Path)
		t.ids[ev.FileID] = true
		set(t, gaffer.FileRotated, ev.Message)
	case gaffer.FollowTruncated:
		set(file(ev.Path), gaffer.FileFollowing, "")
	case gaffer.FollowMissing:
		set(file(ev.Path), gaffer.FileMissing, ev.Message)
	case gaffer.FollowDone:
		t := file(ev.Path)
		delete(t.ids, ev.FileID)
		switch {
		case len(t.ids) > 0:
			// The successor of a rotated file goes on.
			if !slices.Contains(mapValues(t.ids), true) {
				set(t, gaffer.FileFollowing, "")
			}
		case t.st.State != gaffer.FileMissing:
			delete(r.files, ev.Path)
		}
	case gaffer.FollowError:
		if ev.Path != "" {
			set(file(ev.Path), gaffer.FileError, ev.Message)
		}
	}
	r.update(func(st *gaffer.FollowState) {
		if st.State != conn || conn == gaffer.FollowReconnecting {
			since := now
			if !connSince.IsZero() {
				since = connSince
			}
			st.State, st.Since, st.Message = conn, &since, connMsg
		}
		st.Files = r.fileStates()
	}, true)
}

func mapValues(m map[string]bool) []bool {
	out := make([]bool, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// fileStates lists the paths' states by path.
func (r *followRun) fileStates() []gaffer.FileState {
	out := make([]gaffer.FileState, 0, len(r.files))
	for _, t := range r.files {
		out = append(out, t.st)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out
}

// update changes the run's follow state under the job's lock; store: the
// change is worth a store write now (not only positions).
func (r *followRun) update(fn func(*gaffer.FollowState), store bool) {
	r.aj.mu.Lock()
	run := r.aj.job.Runs[r.i]
	if run.Follow == nil {
		run.Follow = &gaffer.FollowState{}
	}
	fn(run.Follow)
	r.aj.mu.Unlock()
	if store {
		select {
		case r.dirty <- struct{}{}:
		default:
		}
	}
}

// checkpoint sets the run's positions with the log's last seq, after an
// event's records and lines went to the log: together they say which of
// the run's records the positions cover (resume.go). store: write them
// now, else the writer does within followStoreEvery.
func (r *followRun) checkpoint(store bool) {
	list, seq := r.pos.List(), r.aj.log.lastSeq()
	r.update(func(st *gaffer.FollowState) { st.Positions, st.Seq = list, seq }, store)
}

// store writes the run's state now.
func (r *followRun) store() {
	run := r.runCopy()
	sctx, cancel := r.f.storeCtx()
	defer cancel()
	if err := r.f.cfg.Store.UpdateRun(sctx, r.aj.job.ID, run); err != nil {
		r.f.log.Error("record follow state", "job", r.aj.job.ID, "host", r.host, "err", err)
	}
}

// writer stores the run's follow state when it changes, and its positions
// every followStoreEvery, until the follow is over; then once more.
func (r *followRun) writer() {
	tick := time.NewTicker(followStoreEvery)
	defer tick.Stop()
	var last []gaffer.FilePosition
	write := func() {
		run := r.runCopy()
		last = run.Follow.Positions
		sctx, cancel := r.f.storeCtx()
		defer cancel()
		if err := r.f.cfg.Store.UpdateRun(sctx, r.aj.job.ID, run); err != nil {
			r.f.log.Error("record follow state", "job", r.aj.job.ID, "host", r.host, "err", err)
		}
	}
	for {
		select {
		case <-r.dirty:
			write()
		case <-tick.C:
			// A later seq alone need not be stored: the run's records
			// after the stored one are not lines (positions unchanged).
			if run := r.runCopy(); !slices.Equal(run.Follow.Positions, last) {
				write()
			}
		case <-r.stop:
			// endRun stores the run with its final state and positions.
			return
		}
	}
}

// runCopy is the run as it is now, its follow state copied.
func (r *followRun) runCopy() *gaffer.Run {
	r.aj.mu.Lock()
	defer r.aj.mu.Unlock()
	return copyRun(r.aj.job.Runs[r.i])
}
