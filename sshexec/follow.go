package sshexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/followsh"
	"golang.org/x/crypto/ssh"
)

var _ gaffer.Follower = (*Executor)(nil)

// Follow follows spec's files on host until ctx ends (gaffer.Follower):
// the follow script (internal/followsh) runs in the login shell, as
// commands do, in one session on the host's pooled connection however many
// files it follows, and again after the connection was lost.
func (e *Executor) Follow(ctx context.Context, host *gaffer.Host, spec gaffer.FollowSpec, emit func(gaffer.FollowEvent) error) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	hops, err := e.route(host)
	if err != nil {
		return err
	}
	t := hops[len(hops)-1].t
	start := func(ctx context.Context, command string) (followsh.Session, error) {
		return e.followSession(ctx, hops, command)
	}
	return followsh.Follow(ctx, followsh.Config{Name: t.String(), Start: start, Logger: e.logger()}, spec, emit)
}

// followSession is the follow script running in a session of a pooled
// connection.
type followSession struct {
	io.Reader // the session's stdout
	p         *pool
	c         *conn
	sess      *ssh.Session
	t         target
	stderr    *followsh.TailBuffer
	once      sync.Once
}

func (e *Executor) followSession(ctx context.Context, hops []hop, command string) (*followSession, error) {
	p := e.getPool()
	t := hops[len(hops)-1].t
	c, err := p.get(ctx, hops, false)
	if err != nil {
		return nil, err
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
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "open an ssh session on %s: %s", t, netErrText(err, 0))
	}
	s := &followSession{p: p, c: c, sess: sess, t: t, stderr: &followsh.TailBuffer{Max: 2048}}
	if s.Reader, err = sess.StdoutPipe(); err != nil {
		s.Close()
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "open stdout on %s: %s", t, netErrText(err, 0))
	}
	sess.Stderr = s.stderr
	if err := sess.Start(command); err != nil {
		s.Close()
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "start following files on %s: %s", t, netErrText(err, 0))
	}
	return s, nil
}

// Close closes the session, which ends the reads; the script on the host
// dies at its next write.
func (s *followSession) Close() error {
	s.once.Do(func() {
		s.sess.Close()
		s.p.release(s.c, false)
	})
	return nil
}

func (s *followSession) Ended(err error) error {
	switch {
	case s.c.isClosed():
		msg := fmt.Sprintf("connection to %s lost", s.t)
		if cause := s.c.lostCause(); cause != "" {
			msg += " (" + cause + ")"
		}
		return gaffer.Errorf(gaffer.EUNAVAILABLE, "%s", msg)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		msg := strings.TrimSpace(s.stderr.String())
		if msg == "" {
			// Read saw the end before the connection was known to be gone.
			return gaffer.Errorf(gaffer.EUNAVAILABLE, "the follow session on %s ended without a word (the connection was probably cut)", s.t)
		}
		return gaffer.Errorf(gaffer.EUNAVAILABLE, "following files on %s stopped: %s", s.t, msg)
	}
	return gaffer.Errorf(gaffer.EUNAVAILABLE, "following files on %s: %v", s.t, err)
}
