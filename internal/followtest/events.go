package followtest

import (
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

// hang bounds every wait so that a broken Follower fails the test instead
// of hanging it. It is a guard, not a timing assertion.
const hang = 30 * time.Second

// Events collects what Follow emits.
type Events struct {
	mu     sync.Mutex
	list   []gaffer.FollowEvent
	notify chan struct{}
}

func newEvents() *Events { return &Events{notify: make(chan struct{}, 1)} }

func (c *Events) emit(ev gaffer.FollowEvent) error {
	c.mu.Lock()
	c.list = append(c.list, ev)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

// All returns the events so far.
func (c *Events) All() []gaffer.FollowEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gaffer.FollowEvent(nil), c.list...)
}

// Text is what FollowLines events brought of path (of each of its files,
// in order, if id is "").
func (c *Events) Text(path, id string) string {
	var b strings.Builder
	for _, ev := range c.All() {
		if ev.Kind == gaffer.FollowLines && ev.Path == path && (id == "" || ev.FileID == id) {
			b.Write(ev.Data)
		}
	}
	return b.String()
}

// Wait waits until ok holds for the events so far, and returns when.
func (c *Events) Wait(t testing.TB, what string, ok func([]gaffer.FollowEvent) bool) time.Time {
	t.Helper()
	timeout := time.After(hang)
	for {
		if ok(c.All()) {
			return time.Now()
		}
		select {
		case <-c.notify:
		case <-timeout:
			var b strings.Builder
			for _, ev := range c.All() {
				fmt.Fprintf(&b, "  %s\n", ev)
			}
			t.Fatalf("%s: never happened; events:\n%s", what, b.String())
		}
	}
}

// WaitText waits until the lines of path (file id, or all) are want.
func (c *Events) WaitText(t testing.TB, path, id, want string) time.Time {
	t.Helper()
	return c.Wait(t, fmt.Sprintf("lines of %s = %q", filepath.Base(path), short(want)), func([]gaffer.FollowEvent) bool {
		return c.Text(path, id) == want
	})
}

func short(s string) string {
	if len(s) > 200 {
		return s[:100] + "…" + s[len(s)-100:]
	}
	return s
}

// WaitEvent waits for an event of kind about path and returns it.
func (c *Events) WaitEvent(t testing.TB, kind gaffer.FollowEventKind, path string, match func(gaffer.FollowEvent) bool) gaffer.FollowEvent {
	t.Helper()
	var found gaffer.FollowEvent
	c.Wait(t, fmt.Sprintf("%s event for %s", kind, path), func(evs []gaffer.FollowEvent) bool {
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

// Opened is the first FollowOpened event of path (zero if none).
func (c *Events) Opened(path string) gaffer.FollowEvent {
	for _, ev := range c.All() {
		if ev.Kind == gaffer.FollowOpened && ev.Path == path {
			return ev
		}
	}
	return gaffer.FollowEvent{}
}

// Follow runs f.Follow in the background until stop is called or the test
// ends; stop returns what Follow returned, which must be context.Canceled.
func Follow(t testing.TB, f gaffer.Follower, h gaffer.Host, spec gaffer.FollowSpec) (c *Events, stop func() error) {
	t.Helper()
	c = newEvents()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Follow(ctx, &h, spec, c.emit) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(hang):
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

// LogDir makes a directory every test user can read, on this machine,
// which is the test hosts' machine too.
func LogDir(t testing.TB) string {
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

// AppendFile appends s to path, creating it if need be.
func AppendFile(t testing.TB, path, s string) {
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

// WriteFile replaces path's content with s.
func WriteFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
