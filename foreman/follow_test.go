package foreman_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
)

// returnNil makes the fake follower return nil.
type returnNil struct{}

// fakeFollower plays the events a test sends it, per host, until the job
// ends or the test sends an error to end it with.
type fakeFollower struct {
	mu    sync.Mutex
	hosts map[string]chan any // gaffer.FollowEvent, or error: Follow returns it
	specs map[string]gaffer.FollowSpec
}

func newFakeFollower() *fakeFollower {
	return &fakeFollower{hosts: map[string]chan any{}, specs: map[string]gaffer.FollowSpec{}}
}

func (f *fakeFollower) ch(host string) chan any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hosts[host] == nil {
		f.hosts[host] = make(chan any)
	}
	return f.hosts[host]
}

func (f *fakeFollower) Follow(ctx context.Context, host *gaffer.Host, spec gaffer.FollowSpec, emit func(gaffer.FollowEvent) error) error {
	f.mu.Lock()
	f.specs[host.Name] = spec
	f.mu.Unlock()
	ch := f.ch(host.Name)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v := <-ch:
			switch v := v.(type) {
			case error:
				return v
			case returnNil:
				return nil
			case gaffer.FollowEvent:
				if err := emit(v); err != nil {
					return err
				}
			}
		}
	}
}

// send hands the events to the host's follower; it returns once the last
// one is being emitted.
func (f *fakeFollower) send(t *testing.T, host string, evs ...any) {
	t.Helper()
	for _, ev := range evs {
		select {
		case f.ch(host) <- ev:
		case <-time.After(30 * time.Second):
			t.Fatalf("the follower of %s is not running", host)
		}
	}
}

// countingStore counts the run updates that carry a follow state.
type countingStore struct {
	gaffer.JobStore
	mu      sync.Mutex
	updates []gaffer.Run
}

func (s *countingStore) UpdateRun(ctx context.Context, jobID int64, r *gaffer.Run) error {
	if r.Follow != nil {
		s.mu.Lock()
		s.updates = append(s.updates, *r)
		s.mu.Unlock()
	}
	return s.JobStore.UpdateRun(ctx, jobID, r)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

func newFollowForeman(t *testing.T, fw *fakeFollower, local gaffer.Follower, hosts []gaffer.Host, store gaffer.JobStore) *foreman.Foreman {
	t.Helper()
	if store == nil {
		store = newStore(t)
	}
	cfg := foreman.Config{Store: store, Live: memory.NewLiveLog(0, 0), Archive: newArchive(t),
		Hosts: func() []gaffer.Host { return hosts }, Secrets: []string{"hunter2-secret"}}
	if fw != nil {
		cfg.Follower = fw
	}
	cfg.LocalFollower = local
	f := foreman.New(cfg)
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	return f
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("still waiting for %s", what)
}

// Each event becomes records: lines one each with their file, masked;
// the connection and file events one system line each, in words; the run
// keeps its follow state and stays running; a cancel ends it as canceled.
func TestFollowRecordsAndState(t *testing.T) {
	fw := newFakeFollower()
	store := &countingStore{JobStore: newStore(t)}
	f := newFollowForeman(t, fw, nil, []gaffer.Host{{Name: "web-1", Address: "10.0.0.1"}}, store)
	job, err := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/var/log/*.log", "/srv/app.log"}, From: "start", Hosts: []string{"web-1"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if job.Command != "follow /var/log/*.log /srv/app.log" {
		t.Errorf("command %q", job.Command)
	}
	since := time.Date(2026, 12, 1, 12, 1, 2, 0, time.UTC)
	fw.send(t, "web-1",
		gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/var/log/a.log", FileID: "1:10", Reason: "start"},
		gaffer.FollowEvent{Kind: gaffer.FollowMissing, Path: "/srv/app.log", FileID: "", Message: "no file at this path"},
		gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/var/log/a.log", FileID: "1:10", Offset: 0, End: 38,
			Data: []byte("one\n\npassword=hunter2-secret ok\ntwo\n")},
	)
	waitFor(t, "following", func() bool {
		j, _ := f.Job(context.Background(), job.ID)
		return j.Runs[0].Follow != nil && j.Runs[0].Follow.State == gaffer.FollowFollowing && len(j.Runs[0].Follow.Files) == 2
	})
	j, _ := f.Job(context.Background(), job.ID)
	if j.Status != gaffer.StatusRunning || j.Runs[0].Status != gaffer.StatusRunning {
		t.Fatalf("job %s run %s while following", j.Status, j.Runs[0].Status)
	}
	files := j.Runs[0].Follow.Files
	if files[0].Path != "/srv/app.log" || files[0].State != gaffer.FileMissing || files[1].Path != "/var/log/a.log" || files[1].State != gaffer.FileFollowing {
		t.Errorf("files %+v", files)
	}
	fw.send(t, "web-1",
		gaffer.FollowEvent{Kind: gaffer.FollowAway, Since: since, Message: "connection refused"},
		gaffer.FollowEvent{Kind: gaffer.FollowAway, Since: since, Message: "no route to host"},
	)
	waitFor(t, "reconnecting", func() bool {
		j, _ := f.Job(context.Background(), job.ID)
		st := j.Runs[0].Follow
		return st.State == gaffer.FollowReconnecting && st.Message == "no route to host" && st.Since.Equal(since)
	})
	fw.send(t, "web-1",
		gaffer.FollowEvent{Kind: gaffer.FollowBack, Since: since, Away: 42*time.Second + 300*time.Millisecond},
		gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/var/log/a.log", FileID: "1:10", Offset: 38, End: 50, Data: []byte("three\nfour\n")},
		gaffer.FollowEvent{Kind: gaffer.FollowRotated, Path: "/var/log/a.log", FileID: "1:10", Message: "renamed to /var/log/a.log.1: reading it to its end"},
		gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/var/log/a.log", FileID: "1:11", Reason: "rotated"},
		gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/var/log/a.log", FileID: "1:10", Offset: 50, End: 54, Data: []byte("last")},
		gaffer.FollowEvent{Kind: gaffer.FollowDone, Path: "/var/log/a.log", FileID: "1:10", Reason: "drained"},
		gaffer.FollowEvent{Kind: gaffer.FollowTruncated, Path: "/var/log/a.log", FileID: "1:11"},
		gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/var/log/b.log", FileID: "1:12", Reason: "new"},
		gaffer.FollowEvent{Kind: gaffer.FollowDone, Path: "/var/log/b.log", FileID: "1:12", Reason: "gone", Message: "deleted or renamed out of sight"},
		gaffer.FollowEvent{Kind: gaffer.FollowError, Path: "/var/log/c.log", Message: "permission denied"},
		gaffer.FollowEvent{Kind: gaffer.FollowMissing, Path: "/var/log/*.log", Message: "no file matches"},
	)
	waitFor(t, "the last event", func() bool {
		j, _ := f.Job(context.Background(), job.ID)
		return len(j.Runs[0].Follow.Files) == 4
	})
	j, _ = f.Job(context.Background(), job.ID)
	st := j.Runs[0].Follow
	if st.State != gaffer.FollowFollowing || st.Message != "" {
		t.Errorf("state after back: %+v", st)
	}
	var got []string
	for _, fs := range st.Files {
		got = append(got, fs.Path+" "+fs.State)
	}
	if want := "/srv/app.log missing|/var/log/*.log missing|/var/log/a.log following|/var/log/c.log error"; strings.Join(got, "|") != want {
		t.Errorf("files %q, want %q", strings.Join(got, "|"), want)
	}
	want := []gaffer.FilePosition{{Path: "/var/log/a.log", FileID: "1:11", Offset: 0}}
	if len(st.Positions) != 1 || st.Positions[0] != want[0] {
		t.Errorf("positions %+v, want %+v", st.Positions, want)
	}

	if _, err := f.Cancel(context.Background(), job.ID); err != nil {
		t.Fatal(err)
	}
	j = waitDone(t, f, job.ID)
	if j.Status != gaffer.StatusCanceled || j.Runs[0].Status != gaffer.StatusCanceled {
		t.Fatalf("canceled: job %s run %s", j.Status, j.Runs[0].Status)
	}

	var lines []string
	for _, r := range allLines(t, f, job.ID) {
		if r.Stream == gaffer.System {
			lines = append(lines, "# "+r.Text())
			continue
		}
		if r.Stream != gaffer.Stdout || r.Host != "web-1" {
			t.Errorf("record %+v", r)
		}
		nl := ""
		if !r.NL {
			nl = " (no newline)"
		}
		lines = append(lines, r.File+": "+r.Text()+nl)
	}
	wantLines := []string{
		"# following on web-1 (10.0.0.1:22): /var/log/*.log, /srv/app.log, from their start",
		"# following /var/log/a.log from its start",
		"# /srv/app.log: no such file; it is followed from its start once it appears",
		"/var/log/a.log: one",
		"/var/log/a.log: ",
		"/var/log/a.log: password=*** ok",
		"/var/log/a.log: two",
		"# web-1 unreachable since 12:01:02 UTC: connection refused; retrying",
		"# web-1 still unreachable (since 12:01:02 UTC): no route to host; retrying",
		"# web-1 back after 42s: following again where each file stood",
		"/var/log/a.log: three",
		"/var/log/a.log: four",
		"# /var/log/a.log rotated: renamed to /var/log/a.log.1: reading it to its end",
		"# /var/log/a.log: a new file; following it from its start",
		"/var/log/a.log: last (no newline)",
		"# /var/log/a.log was truncated: reading it again from its start",
		"# /var/log/b.log appeared: following it from its start",
		"# /var/log/b.log: deleted or renamed out of sight",
		"# /var/log/c.log: permission denied",
		"# no file matches /var/log/*.log: files that appear are followed from their start",
	}
	// The end line (canceled …) comes last.
	if len(lines) != len(wantLines)+1 || !strings.HasPrefix(lines[len(lines)-1], "# canceled: canceled by a user") {
		t.Fatalf("records:\n%s", strings.Join(lines, "\n"))
	}
	for i, w := range wantLines {
		if lines[i] != w {
			t.Errorf("record %d: %q, want %q", i, lines[i], w)
		}
	}
	fw.mu.Lock()
	spec := fw.specs["web-1"]
	fw.mu.Unlock()
	if !spec.FromStart || strings.Join(spec.Paths, " ") != "/var/log/*.log /srv/app.log" {
		t.Errorf("spec %+v", spec)
	}
	// The store had the changes of state (not each line; changes that come
	// together are one write of the latest), and the final positions with
	// the run's end.
	n := store.count()
	if n < 2 || n > 25 {
		t.Errorf("%d run updates with a follow state", n)
	}
	store.mu.Lock()
	last := store.updates[len(store.updates)-1]
	store.mu.Unlock()
	if last.Status != gaffer.StatusCanceled || len(last.Follow.Positions) != 1 || last.Follow.Positions[0] != want[0] {
		t.Errorf("last update %+v %+v", last, last.Follow)
	}
}

// Many lines cost the store nothing per line: positions are written at
// most every few seconds.
func TestFollowStoreNotPerLine(t *testing.T) {
	fw := newFakeFollower()
	store := &countingStore{JobStore: newStore(t)}
	f := newFollowForeman(t, fw, nil, []gaffer.Host{{Name: "h"}}, store)
	job, err := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/l"}, Hosts: []string{"h"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	fw.send(t, "h", gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/l", FileID: "1:1", Reason: "start"})
	before, began := store.count(), time.Now()
	var off int64
	for i := 0; i < 500; i++ {
		fw.send(t, "h", gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/l", FileID: "1:1", Offset: off, End: off + 2, Data: []byte("x\n")})
		off += 2
	}
	// At most one write per 5 s of them (however slow the machine), plus
	// the opened event's.
	if n, most := store.count()-before, 2+int(time.Since(began)/(5*time.Second)); n > most {
		t.Errorf("%d store writes for 500 lines in %s", n, time.Since(began))
	}
	f.Cancel(context.Background(), job.ID)
	waitDone(t, f, job.ID)
	// The lines, and the start, opened and end lines.
	if recs := allLines(t, f, job.ID); len(recs) != 500+3 {
		t.Errorf("%d records, want 503", len(recs))
	}
}

// How a follow run ends: timeout, a follower that gives up, no follower
// for local hosts, shutdown.
func TestFollowEnds(t *testing.T) {
	hosts := []gaffer.Host{{Name: "h"}, {Name: "local", Local: true}}
	t.Run("timeout", func(t *testing.T) {
		f := newFollowForeman(t, newFakeFollower(), nil, hosts, nil)
		job, err := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/l"}, Hosts: []string{"h"}, Timeout: gaffer.Duration(50 * time.Millisecond)}, "t")
		if err != nil {
			t.Fatal(err)
		}
		j := waitDone(t, f, job.ID)
		if j.Status != gaffer.StatusTimedOut {
			t.Fatalf("job %s", j.Status)
		}
		// An ended run no longer says it follows.
		if st := j.Runs[0].Follow; st == nil || st.State != gaffer.FollowStopped {
			t.Fatalf("run's follow state after the end: %+v", st)
		}
	})
	t.Run("follower fails", func(t *testing.T) {
		fw := newFakeFollower()
		f := newFollowForeman(t, fw, nil, hosts, nil)
		job, _ := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/l"}, Hosts: []string{"h"}}, "t")
		fw.send(t, "h", gaffer.Errorf(gaffer.EINVALID, "follow: path \"\" is empty"))
		j := waitDone(t, f, job.ID)
		if j.Status != gaffer.StatusFailed || j.Runs[0].Error != "following the files stopped: follow: path \"\" is empty" {
			t.Fatalf("job %s, run error %q", j.Status, j.Runs[0].Error)
		}
	})
	t.Run("follower returns nil", func(t *testing.T) {
		fw := newFakeFollower()
		f := newFollowForeman(t, fw, nil, hosts, nil)
		job, _ := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/l"}, Hosts: []string{"h"}}, "t")
		fw.send(t, "h", returnNil{})
		if j := waitDone(t, f, job.ID); j.Status != gaffer.StatusFailed || j.Runs[0].Error == "" {
			t.Fatalf("job %s, run error %q", j.Status, j.Runs[0].Error)
		}
	})
	t.Run("no local follower", func(t *testing.T) {
		f := newFollowForeman(t, newFakeFollower(), nil, hosts, nil)
		job, _ := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/l"}, Hosts: []string{"local"}}, "t")
		j := waitDone(t, f, job.ID)
		if j.Status != gaffer.StatusFailed || !strings.Contains(j.Runs[0].Error, "cannot follow files on this server's own host") {
			t.Fatalf("job %s, run error %q", j.Status, j.Runs[0].Error)
		}
	})
	t.Run("local follower", func(t *testing.T) {
		local := newFakeFollower()
		f := newFollowForeman(t, nil, local, hosts, nil)
		job, _ := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/l"}, Hosts: []string{"local", "h"}}, "t")
		local.send(t, "local", gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/l", Data: []byte("here\n")})
		run := func(host string) *gaffer.Run {
			j, _ := f.Job(context.Background(), job.ID)
			for _, r := range j.Runs {
				if r.Host == host {
					return r
				}
			}
			t.Fatalf("no run on %s", host)
			return nil
		}
		waitFor(t, "the remote run to fail", func() bool { return run("h").Status == gaffer.StatusFailed })
		if msg := run("h").Error; !strings.Contains(msg, "cannot follow files on remote hosts") {
			t.Errorf("remote run: %q", msg)
		}
		// A follow job is left running, to resume when the server starts
		// again (resume.go).
		ids, err := f.Shutdown(context.Background())
		if err != nil || len(ids) != 0 || fmt.Sprint(f.Suspended()) != fmt.Sprint([]int64{job.ID}) {
			t.Fatalf("shutdown %v %v, suspended %v", ids, err, f.Suspended())
		}
		if st := run("local").Status; st != gaffer.StatusRunning {
			t.Fatalf("local run %s", st)
		}
	})
}

// Runs of a follow job all go at once by default: each lasts as long as
// the job, so one waiting for a slot would wait for ever.
func TestFollowConcurrencyDefault(t *testing.T) {
	var hosts []gaffer.Host
	fw := newFakeFollower()
	for _, n := range []string{"a", "b", "c"} {
		hosts = append(hosts, gaffer.Host{Name: n})
	}
	f := newFollowForeman(t, fw, nil, hosts, nil)
	job, err := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/l"}, Hosts: []string{"a", "b", "c"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	if job.Concurrency != 3 {
		t.Errorf("concurrency %d", job.Concurrency)
	}
	for _, h := range []string{"a", "b", "c"} {
		fw.send(t, h, gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/l", FileID: "1:1"})
	}
	f.Cancel(context.Background(), job.ID)
	if j := waitDone(t, f, job.ID); j.Status != gaffer.StatusCanceled {
		t.Fatal(j.Status)
	}
}

// hookArchive calls onWrite with each batch as the job's log writes it,
// before any reader can see it.
type hookArchive struct {
	*archive.Archive
	onWrite func([]gaffer.Record)
}

func (a hookArchive) Create(ctx context.Context, id int64) (gaffer.ArchiveWriter, error) {
	w, err := a.Archive.Create(ctx, id)
	return hookWriter{w, a.onWrite}, err
}

type hookWriter struct {
	gaffer.ArchiveWriter
	onWrite func([]gaffer.Record)
}

func (w hookWriter) Write(recs []gaffer.Record) error {
	w.onWrite(recs)
	return w.ArchiveWriter.Write(recs)
}

// A viewer gets the job's state with each of Gaffer's own lines (web's SSE
// sends a status event then): when the line of a follow event is written,
// the run's follow state must already say it.
func TestFollowStateBeforeItsLine(t *testing.T) {
	fw := newFakeFollower()
	var (
		f     *foreman.Foreman
		mu    sync.Mutex
		seen  = map[string]string{} // system line -> the state when it was written
		jobID atomic.Int64
	)
	arch := hookArchive{Archive: newArchive(t), onWrite: func(recs []gaffer.Record) {
		for _, r := range recs {
			if r.Stream != gaffer.System || jobID.Load() == 0 {
				continue
			}
			j, err := f.Job(context.Background(), jobID.Load())
			if err != nil || j.Runs[0].Follow == nil {
				continue
			}
			st := j.Runs[0].Follow
			desc := st.State
			for _, fs := range st.Files {
				desc += " " + fs.Path + "=" + fs.State
			}
			mu.Lock()
			seen[r.Text()] = desc
			mu.Unlock()
		}
	}}
	f = foreman.New(foreman.Config{Store: newStore(t), Live: memory.NewLiveLog(0, 0), Archive: arch, Follower: fw,
		Hosts: func() []gaffer.Host { return []gaffer.Host{{Name: "h", Address: "10.0.0.1"}} }})
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	job, err := f.Start(context.Background(), gaffer.JobRequest{Follow: []string{"/l"}, Hosts: []string{"h"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	jobID.Store(job.ID)
	since := time.Date(2026, 12, 1, 12, 1, 2, 0, time.UTC)
	fw.send(t, "h",
		gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/l", FileID: "1:1", Reason: "start", Offset: 5},
		gaffer.FollowEvent{Kind: gaffer.FollowAway, Since: since, Message: "connection refused"},
		gaffer.FollowEvent{Kind: gaffer.FollowBack, Since: since, Away: time.Second},
		gaffer.FollowEvent{Kind: gaffer.FollowMissing, Path: "/l", FileID: "1:1"},
	)
	want := map[string]string{
		"following /l from its end (byte 5)":                              "following /l=following",
		"h unreachable since 12:01:02 UTC: connection refused; retrying":  "reconnecting /l=following",
		"h back after 1s: following again where each file stood":          "following /l=following",
		"/l: no such file; it is followed from its start once it appears": "following /l=missing",
	}
	waitFor(t, "the lines", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	for line, st := range want {
		if seen[line] != st {
			t.Errorf("when %q was written the state was %q, want %q", line, seen[line], st)
		}
	}
}

// A follow job whose server died (its stored positions behind its log)
// goes on in a new Foreman on the same store and archive: Recover reopens
// its log, moves the positions past the lines archived after them, and
// follows on from there, seqs continuing, the job still running; cancel
// ends it.
func TestFollowResumesAfterCrash(t *testing.T) {
	ctx := context.Background()
	store, arch := newStore(t), newArchive(t)
	hosts := []gaffer.Host{{Name: "h"}}
	fw := newFakeFollower()
	cfg := foreman.Config{Store: store, Live: memory.NewLiveLog(0, 0), Archive: arch,
		Hosts: func() []gaffer.Host { return hosts }, Follower: fw}
	dead := foreman.New(cfg)
	t.Cleanup(func() { dead.Shutdown(ctx) }) // last: it "died" before the other started
	job, err := dead.Start(ctx, gaffer.JobRequest{Follow: []string{"/a", "/b"}, Hosts: []string{"h"}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	fw.send(t, "h", gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/a", FileID: "1:1", Offset: 5, Reason: "start"},
		gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/b", FileID: "1:2", Offset: 0, Reason: "start"})
	waitFor(t, "the positions stored", func() bool {
		j, err := store.FindJob(ctx, job.ID)
		return err == nil && j.Runs[0].Follow != nil && len(j.Runs[0].Follow.Positions) == 2
	})
	fw.send(t, "h", gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/a", FileID: "1:1", Offset: 5, End: 9, Data: []byte("one\n")},
		gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/b", FileID: "1:2", Offset: 0, End: 4, Data: []byte("two\n")},
		gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/a", FileID: "1:1", Offset: 9, End: 15, Data: []byte("three\n")},
		gaffer.FollowEvent{Kind: gaffer.FollowAway, Since: time.Now(), Message: "EOF"})
	waitFor(t, "the lines archived", func() bool {
		recs, _, _ := arch.Read(ctx, job.ID, 0, 100)
		return len(recs) > 0 && strings.Contains(string(recs[len(recs)-1].Data), "unreachable")
	})

	fw2 := newFakeFollower()
	cfg.Follower, cfg.Live = fw2, memory.NewLiveLog(0, 0)
	f := foreman.New(cfg)
	t.Cleanup(func() { f.Shutdown(ctx) })
	if ids, err := f.Recover(ctx); err != nil || len(ids) != 0 || fmt.Sprint(f.Resumed()) != fmt.Sprint([]int64{job.ID}) {
		t.Fatalf("recover: interrupted %v, %v; resumed %v", ids, err, f.Resumed())
	}
	var spec gaffer.FollowSpec
	waitFor(t, "the follow to start again", func() bool {
		fw2.mu.Lock()
		defer fw2.mu.Unlock()
		spec = fw2.specs["h"]
		return spec.Paths != nil
	})
	want := []gaffer.FilePosition{{Path: "/a", FileID: "1:1", Offset: 15}, {Path: "/b", FileID: "1:2", Offset: 4}}
	if fmt.Sprint(spec.Positions) != fmt.Sprint(want) {
		t.Fatalf("resumed at %v, want %v", spec.Positions, want)
	}
	fw2.send(t, "h", gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: "/a", FileID: "1:1", Offset: 15, Reason: "resumed"},
		gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: "/a", FileID: "1:1", Offset: 15, End: 20, Data: []byte("four\n")})
	if j, _ := f.Job(ctx, job.ID); j.Status != gaffer.StatusRunning || j.Runs[0].Status != gaffer.StatusRunning {
		t.Fatalf("resumed job %s, run %s", j.Status, j.Runs[0].Status)
	}
	if _, err := f.Cancel(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if j := waitDone(t, f, job.ID); j.Status != gaffer.StatusCanceled {
		t.Fatalf("after cancel: %s", j.Status)
	}
	var lines, resumed []string
	for i, r := range allLines(t, f, job.ID) {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		switch {
		case r.Stream == gaffer.Stdout:
			lines = append(lines, r.File+" "+string(r.Data))
		case strings.HasPrefix(string(r.Data), "server restarted"):
			resumed = append(resumed, string(r.Data))
		}
	}
	if fmt.Sprint(lines) != "[/a one /b two /a three /a four]" {
		t.Errorf("lines %q", lines)
	}
	if fmt.Sprint(resumed) != "[server restarted; resuming h from /a at byte 15 server restarted; resuming h from /b at byte 4]" {
		t.Errorf("resume lines %q", resumed)
	}
}
