package sshexec

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
	"golang.org/x/crypto/ssh"
)

// followScript polls the files on the host: see its header for what it
// prints. It runs in the login shell, as commands do, in one session on the
// host's pooled connection however many files it follows.
//
//go:embed follow_script.sh
var followScript string

// Reconnect backoff of Follow: doubled after each failed attempt, back to
// the minimum once following again.
const (
	followRetryMin = 500 * time.Millisecond
	followRetryMax = 30 * time.Second
)

var _ gaffer.Follower = (*Executor)(nil)

// Follow follows spec's files on host until ctx ends (gaffer.Follower).
// The script on the host reports each file's inode and new bytes with their
// offsets; here they are cut into complete lines, and positions are kept
// so that after a lost connection the script restarts where each file
// stood: nothing lost, nothing repeated.
func (e *Executor) Follow(ctx context.Context, host *gaffer.Host, spec gaffer.FollowSpec, emit func(gaffer.FollowEvent) error) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	hops, err := e.route(host)
	if err != nil {
		return err
	}
	f := &follower{e: e, hops: hops, spec: spec, emit: emit,
		pos: gaffer.NewFollowPositions(spec.Positions), fresh: len(spec.Positions) == 0}
	backoff := followRetryMin
	for {
		began, err := f.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ee emitError
		if errors.As(err, &ee) {
			return ee.err
		}
		if began {
			backoff = followRetryMin
		}
		if err == nil {
			err = gaffer.Errorf(gaffer.EUNAVAILABLE, "following files on %s ended", hops[len(hops)-1].t)
		}
		if err := f.away(err); err != nil {
			return err
		}
		e.logger().Debug("follow: retrying", "host", hops[len(hops)-1].t.String(), "in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, followRetryMax)
	}
}

// emitError carries the caller's emit error out of a session.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }

// follower is the state of one Follow call, across its sessions.
type follower struct {
	e    *Executor
	hops []hop
	spec gaffer.FollowSpec
	emit func(gaffer.FollowEvent) error
	pos  *gaffer.FollowPositions
	// fresh: no session has finished its first round yet, so files not in
	// the positions are there from the start (spec.FromStart applies).
	fresh bool

	awaySince time.Time // zero when not away
	awayMsg   string
	missing   map[string]bool // paths reported missing and not back
}

// slot is one file a session's script follows.
type slot struct {
	path, id string
	off      int64  // end of the last complete line passed on
	recv     int64  // end of the bytes received
	held     []byte // a line without its newline yet: bytes off to recv
}

func (f *follower) send(ev gaffer.FollowEvent) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if err := f.emit(ev); err != nil {
		return emitError{err}
	}
	f.pos.Apply(ev)
	return nil
}

func (f *follower) away(err error) error {
	msg := gaffer.ErrorMessage(err)
	if f.awaySince.IsZero() {
		f.awaySince = time.Now()
	} else if msg == f.awayMsg {
		return nil
	}
	f.awayMsg = msg
	ev := gaffer.FollowEvent{Kind: gaffer.FollowAway, Since: f.awaySince, Message: msg}
	if err := f.send(ev); err != nil {
		return err.(emitError).err
	}
	return nil
}

// command is the script with its inputs in front, every value quoted.
func (f *follower) command(nonce string) string {
	var b strings.Builder
	set := func(name, value string) { b.WriteString(name + "=" + shellQuote(value) + "\n") }
	set("GF_NONCE", nonce)
	set("GF_FROM", map[bool]string{true: "start", false: "end"}[f.spec.FromStart])
	set("GF_FRESH", map[bool]string{true: "1", false: "0"}[f.fresh])
	set("GF_NPAT", strconv.Itoa(len(f.spec.Paths)))
	for i, p := range f.spec.Paths {
		set("GF_PAT_"+strconv.Itoa(i+1), p)
	}
	positions := f.pos.List()
	set("GF_NPOS", strconv.Itoa(len(positions)))
	for i, p := range positions {
		n := strconv.Itoa(i + 1)
		set("GF_PP_"+n, p.Path)
		set("GF_PI_"+n, p.FileID)
		set("GF_PO_"+n, strconv.FormatInt(p.Offset, 10))
	}
	b.WriteString(followScript)
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// session runs the script once, until the connection or ctx ends. began
// reports that the script finished its first round.
func (f *follower) session(ctx context.Context) (began bool, err error) {
	p := f.e.getPool()
	t := f.hops[len(f.hops)-1].t
	c, err := p.get(ctx, f.hops, false)
	if err != nil {
		return false, err
	}
	sess, err := c.client.NewSession()
	if err != nil {
		p.release(c, false)
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) && oce.Reason == ssh.ConnectionFailed {
			p.full(c)
		} else if !errors.As(err, &oce) {
			p.discard(c, err)
		}
		return false, gaffer.Errorf(gaffer.EUNAVAILABLE, "open an ssh session on %s: %s", t, netErrText(err, 0))
	}
	defer p.release(c, false)
	defer sess.Close()
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return false, gaffer.Errorf(gaffer.EUNAVAILABLE, "open stdout on %s: %s", t, netErrText(err, 0))
	}
	stderr := &tailBuffer{max: 2048}
	sess.Stderr = stderr
	nonce := newNonce()
	if err := sess.Start(f.command(nonce)); err != nil {
		return false, gaffer.Errorf(gaffer.EUNAVAILABLE, "start following files on %s: %s", t, netErrText(err, 0))
	}
	// Closing the session ends the reads below; the script on the host
	// dies at its next write (a heartbeat every 2s at most).
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()

	slots := map[int]*slot{}
	parser := newFollowParser(stdout, nonce)
	for {
		fr, err := parser.next()
		if err != nil {
			if ctx.Err() != nil {
				return began, ctx.Err()
			}
			sess.Close()
			switch {
			case c.isClosed():
				msg := fmt.Sprintf("connection to %s lost", t)
				if cause := c.lostCause(); cause != "" {
					msg += " (" + cause + ")"
				}
				return began, gaffer.Errorf(gaffer.EUNAVAILABLE, "%s", msg)
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				msg := strings.TrimSpace(stderr.String())
				if msg == "" {
					msg = "no error message"
				}
				return began, gaffer.Errorf(gaffer.EUNAVAILABLE, "following files on %s stopped: %s", t, msg)
			}
			return began, gaffer.Errorf(gaffer.EUNAVAILABLE, "following files on %s: %v", t, err)
		}
		if fr.kind == 'Y' {
			began = true
			f.fresh = false
			if !f.awaySince.IsZero() {
				ev := gaffer.FollowEvent{Kind: gaffer.FollowBack, Since: f.awaySince, Away: time.Since(f.awaySince)}
				f.awaySince, f.awayMsg = time.Time{}, ""
				if err := f.send(ev); err != nil {
					return began, err
				}
			}
			continue
		}
		if err := f.frame(slots, fr); err != nil {
			return began, err
		}
	}
}

// frame turns one frame of the script into events.
func (f *follower) frame(slots map[int]*slot, fr followFrame) error {
	s := slots[fr.slot]
	if s == nil && strings.IndexByte("DTRXM", fr.kind) >= 0 {
		return fmt.Errorf("follow script: frame %c for slot %d, which it did not open", fr.kind, fr.slot)
	}
	switch fr.kind {
	case 'O':
		if s != nil {
			return fmt.Errorf("follow script: slot %d opened twice", fr.slot)
		}
		s = &slot{path: fr.path, id: fr.id, off: fr.off, recv: fr.off}
		slots[fr.slot] = s
		// The path has a file again, and the patterns match one: the
		// script says so again when they no longer do.
		delete(f.missing, s.path)
		for _, p := range f.spec.Paths {
			delete(f.missing, p)
		}
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: s.path, FileID: s.id, Offset: s.off, Reason: fr.word})
	case 'D':
		if fr.off != s.recv {
			return fmt.Errorf("follow script: bytes of %s at %d, expected at %d", s.path, fr.off, s.recv)
		}
		delete(f.missing, s.path)
		s.recv += int64(len(fr.data))
		s.held = append(s.held, fr.data...)
		if n := lastLine(s.held); n > 0 {
			if err := f.lines(s, n); err != nil {
				return err
			}
		}
		for len(s.held) >= gaffer.MaxFollowLine {
			if err := f.lines(s, gaffer.MaxFollowLine); err != nil {
				return err
			}
		}
		return nil
	case 'T':
		if err := f.flush(s); err != nil {
			return err
		}
		s.off, s.recv = 0, 0
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowTruncated, Path: s.path, FileID: s.id,
			Message: fmt.Sprintf("truncated to %d bytes: reading it again from its start", fr.off)})
	case 'R':
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowRotated, Path: s.path, FileID: s.id, Offset: s.recv,
			Message: "renamed to " + fr.path + ": reading it to its end"})
	case 'X':
		if err := f.flush(s); err != nil {
			return err
		}
		delete(slots, fr.slot)
		msg := "read to its end"
		if fr.word == "gone" {
			msg = "deleted or renamed out of sight: lines written to it after " + strconv.FormatInt(s.recv, 10) + " bytes are not read"
		}
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowDone, Path: s.path, FileID: s.id, Offset: s.off, Reason: fr.word, Message: msg})
	case 'M':
		return f.missingPath(s.path, s.id, "no file at this path")
	case 'Z':
		if fr.slot < 1 || fr.slot > len(f.spec.Paths) {
			return fmt.Errorf("follow script: pattern %d out of range", fr.slot)
		}
		return f.missingPath(f.spec.Paths[fr.slot-1], "", "no file matches")
	case 'E':
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowError, Message: fr.path})
	}
	return nil
}

func (f *follower) missingPath(path, id, msg string) error {
	if f.missing[path] {
		return nil
	}
	if f.missing == nil {
		f.missing = map[string]bool{}
	}
	f.missing[path] = true
	return f.send(gaffer.FollowEvent{Kind: gaffer.FollowMissing, Path: path, FileID: id, Message: msg})
}

// lines passes on the first n held bytes of s.
func (f *follower) lines(s *slot, n int) error {
	data := slices.Clone(s.held[:n])
	s.held = append(s.held[:0], s.held[n:]...)
	ev := gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: s.path, FileID: s.id, Offset: s.off, End: s.off + int64(n), Data: data}
	s.off += int64(n)
	return f.send(ev)
}

// flush passes on a last line without its newline: the file will not
// grow after it (rotated, truncated).
func (f *follower) flush(s *slot) error {
	if len(s.held) == 0 {
		return nil
	}
	return f.lines(s, len(s.held))
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
