// Package followtest is the contract every gaffer.Follower that runs the
// follow script (internal/followsh) must meet, whatever starts the script.
// An implementation's tests call Run with a host whose files are this
// machine's (the test hosts of internal/sshtest run here too):
//
//	func TestFollow(t *testing.T) {
//		followtest.Run(t, followtest.Target{Follower: &localexec.Executor{}, Host: gaffer.Host{Name: "local"}, Root: os.Geteuid() == 0})
//	}
//
// Timings are logged, never asserted.
package followtest

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
)

// Target is what the suite follows files with.
type Target struct {
	Follower gaffer.Follower
	Host     gaffer.Host
	// Root: the script runs as root, which reads any file, so the case
	// of an unreadable file is left out.
	Root bool
	// ManyFiles, if set, is called while one Follow of 40 files runs,
	// after a line of each arrived: a transport's own checks (one
	// connection, one session).
	ManyFiles func(t *testing.T)
}

// Run runs the cases one after the other, each with its own files.
func Run(t *testing.T, tg Target) {
	tests := []struct {
		name string
		fn   func(t *testing.T, tg Target)
	}{
		{"Append", testAppend},
		{"FromStartAndNewFile", testFromStartAndNewFile},
		{"MissingThenCreated", testMissingThenCreated},
		{"Unreadable", testUnreadable},
		{"RotationMoveCreate", testRotationMoveCreate},
		{"Copytruncate", testCopytruncate},
		{"DeletedRecreated", testDeletedRecreated},
		{"LongLines", testLongLines},
		{"ResumeFromPositions", testResumeFromPositions},
		{"ManyFiles", testManyFiles},
		{"KilledScriptExactlyOnce", testKilledScript},
	}
	for _, tt := range tests {
		if tt.name == "Unreadable" && tg.Root {
			continue
		}
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, tg) })
	}
}

func (tg Target) follow(t *testing.T, spec gaffer.FollowSpec) (*Events, func() error) {
	t.Helper()
	return Follow(t, tg.Follower, tg.Host, spec)
}

func testAppend(t *testing.T, tg Target) {
	dir := LogDir(t)
	a := filepath.Join(dir, "a.log")
	WriteFile(t, a, "old line\nold partial")
	c, _ := tg.follow(t, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
	if ev := c.WaitEvent(t, gaffer.FollowOpened, a, nil); ev.Offset != int64(len("old line\nold partial")) || ev.Reason != "start" {
		t.Fatalf("opened %s, want from its end", ev)
	}
	AppendFile(t, a, "one\ntwo\n")
	written := time.Now()
	got := c.WaitText(t, a, "", "one\ntwo\n")
	t.Logf("lines arrived %v after they were written", got.Sub(written))
	// A line is passed on once complete only.
	AppendFile(t, a, "three, in ")
	AppendFile(t, a, "two writes")
	AppendFile(t, a, "\nfour\n")
	c.WaitText(t, a, "", "one\ntwo\nthree, in two writes\nfour\n")
	for _, ev := range c.All() {
		if ev.Kind == gaffer.FollowLines && !bytes.HasSuffix(ev.Data, []byte("\n")) {
			t.Errorf("incomplete line passed on: %s", ev)
		}
	}
	checkOffsets(t, c, a, int64(len("old line\nold partial")))
}

// checkOffsets checks that each FollowLines event of path starts where the
// last ended, the first at from.
func checkOffsets(t *testing.T, c *Events, path string, from int64) {
	t.Helper()
	want := from
	for _, ev := range c.All() {
		if ev.Kind == gaffer.FollowLines && ev.Path == path {
			if ev.Offset != want || ev.End != ev.Offset+int64(len(ev.Data)) {
				t.Errorf("event %s, want it from offset %d", ev, want)
			}
			want = ev.End
		}
	}
}

func testFromStartAndNewFile(t *testing.T, tg Target) {
	dir := LogDir(t)
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	WriteFile(t, a, "a1\n")
	WriteFile(t, filepath.Join(dir, "not-matched.txt"), "x\n")
	c, _ := tg.follow(t, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}, FromStart: true})
	c.WaitText(t, a, "", "a1\n")
	WriteFile(t, b, "b1\nb2\n")
	written := time.Now()
	got := c.WaitText(t, b, "", "b1\nb2\n")
	t.Logf("new file's lines arrived %v after it was written", got.Sub(written))
	if ev := c.Opened(b); ev.Reason != "new" || ev.Offset != 0 {
		t.Errorf("opened %s, want a new file from its start", ev)
	}
	for _, ev := range c.All() {
		if strings.HasSuffix(ev.Path, ".txt") {
			t.Errorf("a file the glob does not match: %s", ev)
		}
	}
}

func testMissingThenCreated(t *testing.T, tg Target) {
	dir := LogDir(t)
	a := filepath.Join(dir, "later.log")
	c, _ := tg.follow(t, gaffer.FollowSpec{Paths: []string{a}})
	c.WaitEvent(t, gaffer.FollowMissing, a, nil)
	WriteFile(t, a, "first\n")
	c.WaitText(t, a, "", "first\n")
}

func testUnreadable(t *testing.T, tg Target) {
	dir := LogDir(t)
	a := filepath.Join(dir, "secret.log")
	WriteFile(t, a, "x\n")
	if err := os.Chmod(a, 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := tg.follow(t, gaffer.FollowSpec{Paths: []string{a}})
	c.Wait(t, "an error saying the file cannot be read", func(evs []gaffer.FollowEvent) bool {
		for _, ev := range evs {
			if ev.Kind == gaffer.FollowError && strings.Contains(ev.Message, "cannot read "+a) {
				return true
			}
		}
		return false
	})
}

func testRotationMoveCreate(t *testing.T, tg Target) {
	dir := LogDir(t)
	a := filepath.Join(dir, "app.log")
	WriteFile(t, a, "")
	c, _ := tg.follow(t, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
	old := c.WaitEvent(t, gaffer.FollowOpened, a, nil).FileID
	AppendFile(t, a, "before 1\nbefore 2\n")
	c.WaitText(t, a, old, "before 1\nbefore 2\n")
	// logrotate's default: rename, create a new file, then the program
	// reopens; until it does it writes to the old file.
	AppendFile(t, a, "just before\n")
	if err := os.Rename(a, a+".1"); err != nil {
		t.Fatal(err)
	}
	AppendFile(t, a+".1", "late, to the renamed file\nlast without newline")
	WriteFile(t, a, "after 1\n")
	c.WaitText(t, a, old, "before 1\nbefore 2\njust before\nlate, to the renamed file\n")
	nw := c.WaitEvent(t, gaffer.FollowOpened, a, func(ev gaffer.FollowEvent) bool { return ev.Reason == "rotated" })
	c.WaitText(t, a, nw.FileID, "after 1\n")
	AppendFile(t, a+".1", " (written later)\n")
	AppendFile(t, a, "after 2\n")
	c.WaitText(t, a, nw.FileID, "after 1\nafter 2\n")
	c.WaitText(t, a, old, "before 1\nbefore 2\njust before\nlate, to the renamed file\nlast without newline (written later)\n")
	c.WaitEvent(t, gaffer.FollowRotated, a, func(ev gaffer.FollowEvent) bool { return ev.FileID == old })
	// Once it stopped growing, the old file is done.
	c.WaitEvent(t, gaffer.FollowDone, a, func(ev gaffer.FollowEvent) bool { return ev.FileID == old && ev.Reason == "drained" })
}

func testCopytruncate(t *testing.T, tg Target) {
	dir := LogDir(t)
	a := filepath.Join(dir, "app.log")
	WriteFile(t, a, "")
	c, _ := tg.follow(t, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
	c.WaitEvent(t, gaffer.FollowOpened, a, nil)
	AppendFile(t, a, "c1\nc2\n")
	c.WaitText(t, a, "", "c1\nc2\n")
	// logrotate's copytruncate: copy, then truncate in place.
	b, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, a+".1", string(b))
	if err := os.Truncate(a, 0); err != nil {
		t.Fatal(err)
	}
	AppendFile(t, a, "c3\n")
	c.WaitText(t, a, "", "c1\nc2\nc3\n")
	c.WaitEvent(t, gaffer.FollowTruncated, a, nil)
}

func testDeletedRecreated(t *testing.T, tg Target) {
	dir := LogDir(t)
	a := filepath.Join(dir, "app.log")
	WriteFile(t, a, "")
	c, _ := tg.follow(t, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
	c.WaitEvent(t, gaffer.FollowOpened, a, nil)
	AppendFile(t, a, "first file\n")
	c.WaitText(t, a, "", "first file\n")
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	c.WaitEvent(t, gaffer.FollowMissing, a, nil)
	WriteFile(t, a, "second file\n")
	c.WaitText(t, a, "", "first file\nsecond file\n")

	// Deleted and recreated between two polls.
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, a, "third\n")
	c.WaitText(t, a, "", "first file\nsecond file\nthird\n")
}

// A line longer than MaxFollowLine comes in pieces of that size; more than
// the script reads of a file per round (256 KiB) comes over a few rounds;
// nothing is lost or repeated either way.
func testLongLines(t *testing.T, tg Target) {
	dir := LogDir(t)
	a := filepath.Join(dir, "long.log")
	WriteFile(t, a, "")
	c, _ := tg.follow(t, gaffer.FollowSpec{Paths: []string{a}})
	c.WaitEvent(t, gaffer.FollowOpened, a, nil)
	long := strings.Repeat("0123456789abcdef", gaffer.MaxFollowLine*2/16+7) // two pieces and a bit
	AppendFile(t, a, long)
	AppendFile(t, a, "\n")
	var many strings.Builder
	for i := 0; many.Len() < 600<<10; i++ {
		fmt.Fprintf(&many, "line %d of many, all written at once\n", i)
	}
	AppendFile(t, a, many.String())
	c.WaitText(t, a, "", long+"\n"+many.String())
	pieces := 0
	for _, ev := range c.All() {
		if ev.Kind != gaffer.FollowLines {
			continue
		}
		if !bytes.HasSuffix(ev.Data, []byte("\n")) {
			if len(ev.Data) != gaffer.MaxFollowLine {
				t.Errorf("a piece of %d bytes without a newline, want %d: %s", len(ev.Data), gaffer.MaxFollowLine, ev.String()[:80])
			}
			pieces++
		}
	}
	if pieces != 2 {
		t.Errorf("%d pieces of the long line without a newline, want 2", pieces)
	}
	checkOffsets(t, c, a, 0)
}

// Positions taken when one Follow stops resume the next (a server restart):
// lines written in between, also to a file rotated in between, arrive once.
func testResumeFromPositions(t *testing.T, tg Target) {
	dir := LogDir(t)
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	WriteFile(t, a, "a1\n")
	WriteFile(t, b, "b1\n")
	spec := gaffer.FollowSpec{Paths: []string{dir + "/*.log"}, FromStart: true}
	c, stop := tg.follow(t, spec)
	c.WaitText(t, a, "", "a1\n")
	c.WaitText(t, b, "", "b1\n")
	AppendFile(t, a, "a2 partial")
	time.Sleep(600 * time.Millisecond) // polled at least once
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v, want context.Canceled", err)
	}
	pos := gaffer.NewFollowPositions(nil)
	for _, ev := range c.All() {
		pos.Apply(ev)
	}

	// While nobody follows: a grows, b is rotated, c appears.
	AppendFile(t, a, " done\na3\n")
	AppendFile(t, b, "b2\n")
	if err := os.Rename(b, b+".1"); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, b, "b new\n")
	cl := filepath.Join(dir, "c.log")
	WriteFile(t, cl, "c1\n")

	spec.Positions = pos.List()
	spec.FromStart = false
	c2, _ := tg.follow(t, spec)
	c2.WaitText(t, a, "", "a2 partial done\na3\n")
	oldB := c.Opened(b).FileID
	c2.WaitText(t, b, oldB, "b2\n")
	nb := c2.WaitEvent(t, gaffer.FollowOpened, b, func(ev gaffer.FollowEvent) bool { return ev.FileID != oldB })
	c2.WaitText(t, b, nb.FileID, "b new\n")
	c2.WaitEvent(t, gaffer.FollowDone, b, func(ev gaffer.FollowEvent) bool { return ev.FileID == oldB && ev.Reason == "drained" })
	c2.WaitText(t, cl, "", "c1\n")
}

// Many files on one host, one Follow: a line to each arrives.
func testManyFiles(t *testing.T, tg Target) {
	const files = 40
	c, paths := followMany(t, tg.Follower, tg.Host, files)
	written := time.Now()
	for i, p := range paths {
		AppendFile(t, p, fmt.Sprintf("line of file %d\n", i))
	}
	var first time.Time
	for i, p := range paths {
		at := c.WaitText(t, p, "", fmt.Sprintf("line of file %d\n", i))
		if i == 0 {
			first = at
		}
	}
	t.Logf("a line to each of %d files: the first arrived after %v, all within %v", files, first.Sub(written), time.Since(written))
	if tg.ManyFiles != nil {
		tg.ManyFiles(t)
	}
}

// followMany follows n empty files of a new directory, once all are open.
func followMany(t testing.TB, f gaffer.Follower, h gaffer.Host, n int) (*Events, []string) {
	t.Helper()
	dir := LogDir(t)
	var paths []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%02d.log", i))
		WriteFile(t, p, "")
		paths = append(paths, p)
	}
	c, _ := Follow(t, f, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
	c.Wait(t, "every file opened", func(evs []gaffer.FollowEvent) bool {
		opened := 0
		for _, ev := range evs {
			if ev.Kind == gaffer.FollowOpened {
				opened++
			}
		}
		return opened == n
	})
	return c, paths
}

// The script killed while lines are appended: it is started again, and
// every line arrives once.
func testKilledScript(t *testing.T, tg Target) {
	ExactlyOnce(t, tg.Follower, tg.Host, func(dir string) { killScripts(t, dir) })
}

// ExactlyOnce follows two files of a new directory while lines are
// appended to them, calls cut(dir) three times (each time waiting until
// Follow is back), and checks that every line arrived once, with away and
// back events, and that no script is left once Follow stopped.
func ExactlyOnce(t *testing.T, f gaffer.Follower, h gaffer.Host, cut func(dir string)) {
	t.Helper()
	dir := LogDir(t)
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	WriteFile(t, a, "")
	WriteFile(t, b, "")
	c, stopFollow := Follow(t, f, h, gaffer.FollowSpec{Paths: []string{dir + "/*.log"}})
	c.WaitEvent(t, gaffer.FollowOpened, a, nil)
	c.WaitEvent(t, gaffer.FollowOpened, b, nil)

	// Writers append numbered lines, each in two writes, so that a cut
	// also falls between a line's start and its newline.
	const n = 600
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
				time.Sleep(4 * time.Millisecond)
			}
		}()
	}
	for range 3 {
		c.Wait(t, "more lines", func([]gaffer.FollowEvent) bool { return len(c.Text(a, "")) > 0 })
		before := len(c.All())
		time.Sleep(300 * time.Millisecond)
		cut(dir)
		c.Wait(t, "back after the cut", func(evs []gaffer.FollowEvent) bool {
			for _, ev := range evs[before:] {
				if ev.Kind == gaffer.FollowBack {
					return true
				}
			}
			return false
		})
	}
	wg.Wait()
	for i, path := range []string{a, b} {
		c.WaitText(t, path, "", want[i].String())
	}
	if err := stopFollow(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v", err)
	}
	// Neither the scripts the cuts left behind nor the last one outlive
	// Follow.
	WaitNoScripts(t, dir)
	var away, back int
	for _, ev := range c.All() {
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
}
