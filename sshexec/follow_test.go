package sshexec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"github.com/gaffer-dev/gaffer/sshexec"
)

// followLogins are the hosts the follow script is checked on: dash
// (Debian's /bin/sh), bash whose start-up file prints (the script's output
// starts after it), and busybox sh with only busybox's commands, as on
// Alpine.
var followLogins = []struct {
	name string
	opts sshtest.Options
}{
	{"dash", sshtest.Options{Hosts: 1}},
	{"bash", sshtest.Options{Hosts: 1, Bashrc: "echo noise from bashrc; echo D 1 0 5"}},
	{"busybox", sshtest.Options{Hosts: 1, Busybox: true}},
}

// events collects what Follow emits.
type events struct {
	mu     sync.Mutex
	list   []gaffer.FollowEvent
	notify chan struct{}
}

func newEvents() *events { return &events{notify: make(chan struct{}, 1)} }

func (c *events) emit(ev gaffer.FollowEvent) error {
	c.mu.Lock()
	c.list = append(c.list, ev)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *events) all() []gaffer.FollowEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gaffer.FollowEvent(nil), c.list...)
}

// text is what FollowLines events brought of path (of each of its files,
// in order, if id is "").
func (c *events) text(path, id string) string {
	var b strings.Builder
	for _, ev := range c.all() {
		if ev.Kind == gaffer.FollowLines && ev.Path == path && (id == "" || ev.FileID == id) {
			b.Write(ev.Data)
		}
	}
	return b.String()
}

// wait waits until ok holds for the events so far, and returns when.
func (c *events) wait(t *testing.T, what string, ok func([]gaffer.FollowEvent) bool) time.Time {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		if ok(c.all()) {
			return time.Now()
		}
		select {
		case <-c.notify:
		case <-timeout:
			var b strings.Builder
			for _, ev := range c.all() {
				fmt.Fprintf(&b, "  %s\n", ev)
			}
			t.Fatalf("%s: never happened; events:\n%s", what, b.String())
		}
	}
}

// waitText waits until the lines of path (file id, or all) are want.
func (c *events) waitText(t *testing.T, path, id, want string) time.Time {
	t.Helper()
	return c.wait(t, fmt.Sprintf("lines of %s = %q", filepath.Base(path), want), func([]gaffer.FollowEvent) bool {
		return c.text(path, id) == want
	})
}

// waitEvent waits for an event of kind about path and returns it.
func (c *events) waitEvent(t *testing.T, kind gaffer.FollowEventKind, path string, match func(gaffer.FollowEvent) bool) gaffer.FollowEvent {
	t.Helper()
	var found gaffer.FollowEvent
	c.wait(t, fmt.Sprintf("%s event for %s", kind, path), func(evs []gaffer.FollowEvent) bool {
		for _, ev := range evs {
			if ev.Kind == kind && ev.Path == path && (match == nil || match(ev)) {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

// follow runs Follow in the background until stop is called or the test
// ends; stop returns what Follow returned.
func follow(t *testing.T, e *sshexec.Executor, h gaffer.Host, spec gaffer.FollowSpec) (c *events, stop func() error) {
	t.Helper()
	c = newEvents()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Follow(ctx, &h, spec, c.emit) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Follow did not return within 30s of its cancellation")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Follow returned %v, want context.Canceled", err)
		}
	})
	return c, stop
}

// logDir makes a directory the test user can read, on this machine, which
// is the test hosts' machine too.
func logDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "follow-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func opened(c *events, path string) gaffer.FollowEvent {
	for _, ev := range c.all() {
		if ev.Kind == gaffer.FollowOpened && ev.Path == path {
			return ev
		}
	}
	return gaffer.FollowEvent{}
}

// The follow cases, each on every kind of login shell.
func TestFollowFiles(t *testing.T) {
	t.Parallel()
	for _, login := range followLogins {
		t.Run(login.name, func(t *testing.T) {
			t.Parallel()
			s := sshtest.Start(t, login.opts)
			e := newExecutor(t, s)
			h := s.Hosts()[0]
			ready := func(t *testing.T, c *events, path string) gaffer.FollowEvent {
				t.Helper()
				return c.waitEvent(t, gaffer.FollowOpened, path, nil)
			}

			t.Run("append", func(t *testing.T) {
				dir := logDir(t)
				a := filepath.Join(dir, "a.log")
				writeFile(t, a, "old line\nold partial")
				c, _ := follow(t, e, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
				if ev := ready(t, c, a); ev.Offset != int64(len("old line\nold partial")) || ev.Reason != "start" {
					t.Fatalf("opened %s, want from its end", ev)
				}
				appendFile(t, a, "one\ntwo\n")
				written := time.Now()
				got := c.waitText(t, a, "", "one\ntwo\n")
				t.Logf("lines arrived %v after they were written", got.Sub(written))
				// A line is passed on once complete only.
				appendFile(t, a, "three, in ")
				appendFile(t, a, "two writes")
				appendFile(t, a, "\nfour\n")
				c.waitText(t, a, "", "one\ntwo\nthree, in two writes\nfour\n")
				for _, ev := range c.all() {
					if ev.Kind == gaffer.FollowLines && !bytes.HasSuffix(ev.Data, []byte("\n")) {
						t.Errorf("incomplete line passed on: %s", ev)
					}
				}
				// The offsets: each event starts where the last ended.
				want := int64(len("old line\nold partial"))
				for _, ev := range c.all() {
					if ev.Kind == gaffer.FollowLines {
						if ev.Offset != want || ev.End != ev.Offset+int64(len(ev.Data)) {
							t.Errorf("event %s, want it from offset %d", ev, want)
						}
						want = ev.End
					}
				}
			})

			t.Run("from start and glob picks up new files", func(t *testing.T) {
				dir := logDir(t)
				a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
				writeFile(t, a, "a1\n")
				writeFile(t, filepath.Join(dir, "not-matched.txt"), "x\n")
				c, _ := follow(t, e, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}, FromStart: true})
				c.waitText(t, a, "", "a1\n")
				writeFile(t, b, "b1\nb2\n")
				written := time.Now()
				got := c.waitText(t, b, "", "b1\nb2\n")
				t.Logf("new file's lines arrived %v after it was written", got.Sub(written))
				if ev := opened(c, b); ev.Reason != "new" || ev.Offset != 0 {
					t.Errorf("opened %s, want a new file from its start", ev)
				}
				for _, ev := range c.all() {
					if strings.HasSuffix(ev.Path, ".txt") {
						t.Errorf("a file the glob does not match: %s", ev)
					}
				}
			})

			t.Run("missing file, then created", func(t *testing.T) {
				dir := logDir(t)
				a := filepath.Join(dir, "later.log")
				c, _ := follow(t, e, h, gaffer.FollowSpec{Paths: []string{a}})
				c.waitEvent(t, gaffer.FollowMissing, a, nil)
				writeFile(t, a, "first\n")
				c.waitText(t, a, "", "first\n")
			})

			t.Run("unreadable file", func(t *testing.T) {
				dir := logDir(t)
				a := filepath.Join(dir, "secret.log")
				writeFile(t, a, "x\n")
				if err := os.Chmod(a, 0o600); err != nil {
					t.Fatal(err)
				}
				c, _ := follow(t, e, h, gaffer.FollowSpec{Paths: []string{a}})
				c.wait(t, "an error saying the file cannot be read", func(evs []gaffer.FollowEvent) bool {
					for _, ev := range evs {
						if ev.Kind == gaffer.FollowError && strings.Contains(ev.Message, "cannot read "+a) {
							return true
						}
					}
					return false
				})
			})

			t.Run("rotation: mv and a new file", func(t *testing.T) {
				dir := logDir(t)
				a := filepath.Join(dir, "app.log")
				writeFile(t, a, "")
				c, _ := follow(t, e, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
				old := ready(t, c, a).FileID
				appendFile(t, a, "before 1\nbefore 2\n")
				c.waitText(t, a, old, "before 1\nbefore 2\n")
				// logrotate's default: rename, create a new file, then the
				// program reopens; until it does it writes to the old file.
				appendFile(t, a, "just before\n")
				if err := os.Rename(a, a+".1"); err != nil {
					t.Fatal(err)
				}
				appendFile(t, a+".1", "late, to the renamed file\nlast without newline")
				writeFile(t, a, "after 1\n")
				c.waitText(t, a, old, "before 1\nbefore 2\njust before\nlate, to the renamed file\n")
				nw := c.waitEvent(t, gaffer.FollowOpened, a, func(ev gaffer.FollowEvent) bool { return ev.Reason == "rotated" })
				c.waitText(t, a, nw.FileID, "after 1\n")
				appendFile(t, a+".1", " (written later)\n")
				appendFile(t, a, "after 2\n")
				c.waitText(t, a, nw.FileID, "after 1\nafter 2\n")
				c.waitText(t, a, old, "before 1\nbefore 2\njust before\nlate, to the renamed file\nlast without newline (written later)\n")
				c.waitEvent(t, gaffer.FollowRotated, a, func(ev gaffer.FollowEvent) bool { return ev.FileID == old })
				// Once it stopped growing, the old file is done.
				c.waitEvent(t, gaffer.FollowDone, a, func(ev gaffer.FollowEvent) bool { return ev.FileID == old && ev.Reason == "drained" })
			})

			t.Run("copytruncate", func(t *testing.T) {
				dir := logDir(t)
				a := filepath.Join(dir, "app.log")
				writeFile(t, a, "")
				c, _ := follow(t, e, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
				ready(t, c, a)
				appendFile(t, a, "c1\nc2\n")
				c.waitText(t, a, "", "c1\nc2\n")
				// logrotate's copytruncate: copy, then truncate in place.
				b, err := os.ReadFile(a)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, a+".1", string(b))
				if err := os.Truncate(a, 0); err != nil {
					t.Fatal(err)
				}
				appendFile(t, a, "c3\n")
				c.waitText(t, a, "", "c1\nc2\nc3\n")
				c.waitEvent(t, gaffer.FollowTruncated, a, nil)
			})

			t.Run("deleted and recreated", func(t *testing.T) {
				dir := logDir(t)
				a := filepath.Join(dir, "app.log")
				writeFile(t, a, "")
				c, _ := follow(t, e, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
				ready(t, c, a)
				appendFile(t, a, "first file\n")
				c.waitText(t, a, "", "first file\n")
				if err := os.Remove(a); err != nil {
					t.Fatal(err)
				}
				c.waitEvent(t, gaffer.FollowMissing, a, nil)
				writeFile(t, a, "second file\n")
				c.waitText(t, a, "", "first file\nsecond file\n")

				// Deleted and recreated between two polls.
				if err := os.Remove(a); err != nil {
					t.Fatal(err)
				}
				writeFile(t, a, "third\n")
				c.waitText(t, a, "", "first file\nsecond file\nthird\n")
			})
		})
	}
}

// A cut connection is retried; every line written meanwhile arrives once.
func TestFollowReconnectExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, login := range followLogins {
		t.Run(login.name, func(t *testing.T) {
			t.Parallel()
			s := sshtest.Start(t, login.opts)
			p := sshtest.StartProxy(t, s.Addrs[0])
			e := newExecutor(t, s)
			e.KnownHostsFile = s.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{p.Addr()}})
			h := s.Hosts()[0]
			h.Address, h.Port = "127.0.0.1", p.Port()

			dir := logDir(t)
			a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
			writeFile(t, a, "")
			writeFile(t, b, "")
			c, stopFollow := follow(t, e, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
			c.waitEvent(t, gaffer.FollowOpened, a, nil)
			c.waitEvent(t, gaffer.FollowOpened, b, nil)

			// Writers append numbered lines, each in two writes, so that a
			// cut also falls between a line's start and its newline.
			const n = 600
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var want [2]strings.Builder
			for i, path := range []string{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
					if err != nil {
						t.Error(err)
						return
					}
					defer f.Close()
					for j := 1; j <= n; j++ {
						line := fmt.Sprintf("%s line %d", filepath.Base(path), j)
						want[i].WriteString(line + "\n")
						f.WriteString(line)
						time.Sleep(time.Millisecond)
						f.WriteString("\n")
						select {
						case <-stop:
							return
						case <-time.After(4 * time.Millisecond):
						}
					}
				}()
			}
			// Cut the connection three times while they write.
			for range 3 {
				c.wait(t, "more lines", func([]gaffer.FollowEvent) bool { return len(c.text(a, "")) > 0 })
				before := len(c.all())
				time.Sleep(300 * time.Millisecond)
				p.Cut()
				c.wait(t, "back after the cut", func(evs []gaffer.FollowEvent) bool {
					for _, ev := range evs[before:] {
						if ev.Kind == gaffer.FollowBack {
							return true
						}
					}
					return false
				})
			}
			wg.Wait()
			close(stop)
			for i, path := range []string{a, b} {
				c.waitText(t, path, "", want[i].String())
			}
			// Neither the script the cuts left behind nor the last one
			// outlives Follow.
			if err := stopFollow(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Follow returned %v", err)
			}
			s.WaitNoProcessesWith(t, dir)
			var away, back int
			for _, ev := range c.all() {
				switch ev.Kind {
				case gaffer.FollowAway:
					away++
					if ev.Message == "" || ev.Since.IsZero() {
						t.Errorf("away event without why or since when: %s", ev)
					}
				case gaffer.FollowBack:
					back++
					if ev.Away <= 0 {
						t.Errorf("back event without how long: %s", ev)
					}
				}
			}
			if away < 3 || back != 3 {
				t.Errorf("%d away and %d back events, want at least 3 and 3", away, back)
			}
		})
	}
}

// Positions taken when one Follow stops resume the next (a server restart):
// lines written in between, also to a file rotated in between, arrive once.
func TestFollowResumeFromPositions(t *testing.T) {
	t.Parallel()
	for _, login := range followLogins {
		t.Run(login.name, func(t *testing.T) {
			t.Parallel()
			s := sshtest.Start(t, login.opts)
			e := newExecutor(t, s)
			h := s.Hosts()[0]
			dir := logDir(t)
			a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
			writeFile(t, a, "a1\n")
			writeFile(t, b, "b1\n")
			spec := gaffer.FollowSpec{Paths: []string{dir + "/*.log"}, FromStart: true}
			c, stop := follow(t, e, h, spec)
			c.waitText(t, a, "", "a1\n")
			c.waitText(t, b, "", "b1\n")
			appendFile(t, a, "a2 partial")
			time.Sleep(600 * time.Millisecond) // polled at least once
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Follow returned %v, want context.Canceled", err)
			}
			pos := gaffer.NewFollowPositions(nil)
			for _, ev := range c.all() {
				pos.Apply(ev)
			}

			// While nobody follows: a grows, b is rotated, c appears.
			appendFile(t, a, " done\na3\n")
			appendFile(t, b, "b2\n")
			if err := os.Rename(b, b+".1"); err != nil {
				t.Fatal(err)
			}
			writeFile(t, b, "b new\n")
			cl := filepath.Join(dir, "c.log")
			writeFile(t, cl, "c1\n")

			spec.Positions = pos.List()
			spec.FromStart = false
			c2, _ := follow(t, e, h, spec)
			c2.waitText(t, a, "", "a2 partial done\na3\n")
			oldB := opened(c, b).FileID
			c2.waitText(t, b, oldB, "b2\n")
			nb := c2.waitEvent(t, gaffer.FollowOpened, b, func(ev gaffer.FollowEvent) bool { return ev.FileID != oldB })
			c2.waitText(t, b, nb.FileID, "b new\n")
			c2.waitEvent(t, gaffer.FollowDone, b, func(ev gaffer.FollowEvent) bool { return ev.FileID == oldB && ev.Reason == "drained" })
			c2.waitText(t, cl, "", "c1\n")
		})
	}
}

// Many files on one host: one connection, one session.
func TestFollowManyFilesOneConnection(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	e := newExecutor(t, s)
	h := s.Hosts()[0]
	dir := logDir(t)
	const files = 40
	var paths []string
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("f%02d.log", i))
		writeFile(t, p, "")
		paths = append(paths, p)
	}
	c, _ := follow(t, e, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
	c.wait(t, "every file opened", func(evs []gaffer.FollowEvent) bool {
		n := 0
		for _, ev := range evs {
			if ev.Kind == gaffer.FollowOpened {
				n++
			}
		}
		return n == files
	})
	written := time.Now()
	for i, p := range paths {
		appendFile(t, p, fmt.Sprintf("line of file %d\n", i))
	}
	for i, p := range paths {
		c.waitText(t, p, "", fmt.Sprintf("line of file %d\n", i))
	}
	t.Logf("a line to each of %d files: all arrived within %v", files, time.Since(written))
	if st := e.Stats(); st.Conns != 1 || st.Sessions != 1 {
		t.Errorf("stats %+v, want 1 connection with 1 session", st)
	}
}
