// Package followsh is the engine of gaffer.Follower for hosts reached by a
// shell: a POSIX sh script (script.sh) polls the files and prints what they
// gain, framed (parse.go); Follow turns the frames into events, keeps the
// positions, and restarts the script where each file stood when its
// session ends (a lost connection, a killed process). How the script is
// started is the transport's: sshexec runs it in a session on the host's
// pooled connection, localexec with /bin/sh -c on the server.
package followsh

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Session is one run of the script on a host.
type Session interface {
	// Read reads the script's standard output.
	io.Reader
	// Close ends the script, or lets it die at its next write, and makes
	// a Read in progress return. It may be called more than once, and
	// while a Read is in progress.
	Close() error
	// Ended says why the output ended with err (what Read returned), for
	// the away event. Called after Close.
	Ended(err error) error
}

// Start starts command, a POSIX sh script, on the host. An error is
// reported as away and retried like a session that ended.
type Start func(ctx context.Context, command string) (Session, error)

// Config is what Follow needs of the transport.
type Config struct {
	Name   string // the host, in messages
	Start  Start
	Logger *slog.Logger // nil: no logs
}

// Restart backoff: doubled after each session that failed before its
// first round was done, back to the minimum once following again.
const (
	RetryMin = 500 * time.Millisecond
	RetryMax = 30 * time.Second
)

// Follow follows spec's files until ctx ends (gaffer.Follower's contract).
// The script reports each file's inode and new bytes with their offsets;
// here they are cut into complete lines, and positions are kept so that a
// new session starts where each file stood: nothing lost, nothing repeated.
func Follow(ctx context.Context, cfg Config, spec gaffer.FollowSpec, emit func(gaffer.FollowEvent) error) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &follower{cfg: cfg, spec: spec, emit: emit,
		pos: gaffer.NewFollowPositions(spec.Positions), fresh: len(spec.Positions) == 0}
	backoff := RetryMin
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
			backoff = RetryMin
		}
		if err == nil {
			err = gaffer.Errorf(gaffer.EUNAVAILABLE, "following files on %s ended", cfg.Name)
		}
		if err := f.away(err); err != nil {
			return err
		}
		log.Debug("follow: retrying", "host", cfg.Name, "in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, RetryMax)
	}
}

// emitError carries the caller's emit error out of a session.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }

// follower is the state of one Follow call, across its sessions.
type follower struct {
	cfg  Config
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

// session runs the script once, until it ends or ctx does. began reports
// that the script finished its first round.
func (f *follower) session(ctx context.Context) (began bool, err error) {
	nonce := newNonce()
	s, err := f.cfg.Start(ctx, f.command(nonce))
	if err != nil {
		return false, err
	}
	defer s.Close()
	// Closing the session ends the reads below; a script on the other end
	// of a lost connection dies at its next write (a heartbeat every 2s).
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()

	slots := map[int]*slot{}
	parser := newFollowParser(s, nonce)
	for {
		fr, err := parser.next()
		if err != nil {
			if ctx.Err() != nil {
				return began, ctx.Err()
			}
			s.Close()
			return began, s.Ended(err)
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
