package localexec

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/followsh"
)

var _ gaffer.Follower = (*Executor)(nil)

// Follow follows spec's files on the server until ctx ends
// (gaffer.Follower): the follow script of remote hosts (internal/followsh)
// runs with Shell -c, in the environment commands get. There is no
// connection to lose, but the script can die (killed, out of memory): it
// is started again where each file stood, as after a lost connection.
func (e *Executor) Follow(ctx context.Context, host *gaffer.Host, spec gaffer.FollowSpec, emit func(gaffer.FollowEvent) error) error {
	name := "the server"
	if host != nil && host.Name != "" {
		name = host.Name
	}
	start := func(ctx context.Context, command string) (followsh.Session, error) {
		return e.followSession(name, command)
	}
	return followsh.Follow(ctx, followsh.Config{Name: name, Start: start, Logger: e.logger()}, spec, emit)
}

// followSession is the follow script running in its own process group.
type followSession struct {
	*os.File // the script's stdout
	e        *Executor
	name     string
	pid      int
	waited   chan error
	stderr   *followsh.TailBuffer
	once     sync.Once
	waitErr  error
}

func (e *Executor) followSession(name, command string) (*followSession, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "follow files on %s: %v", name, err)
	}
	s := &followSession{File: outR, e: e, name: name, waited: make(chan error, 1), stderr: &followsh.TailBuffer{Max: 2048}}
	cmd := exec.Command(e.shell(), "-c", command)
	cmd.Stdout, cmd.Stderr = outW, s.stderr
	cmd.Env = e.environ()
	// Relative paths are relative to the home directory, as on remote
	// hosts.
	for _, kv := range cmd.Env {
		if home, ok := strings.CutPrefix(kv, "HOME="); ok {
			if fi, err := os.Stat(home); err == nil && fi.IsDir() {
				cmd.Dir = home
			}
		}
	}
	// Its own process group, so that stopping it reaches its children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Wait returns even if something left behind keeps stderr open.
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	outW.Close()
	if err != nil {
		outR.Close()
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "follow files on %s: start %s: %v", name, e.shell(), err)
	}
	s.pid = cmd.Process.Pid
	go func() { s.waited <- cmd.Wait() }()
	return s, nil
}

// Close stops the script's process group (SIGTERM, then SIGKILL after
// KillGrace) and its output.
func (s *followSession) Close() error {
	s.once.Do(func() {
		s.waitErr = s.e.stop(s.pid, s.waited)
		s.File.Close()
	})
	return nil
}

func (s *followSession) Ended(err error) error {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return gaffer.Errorf(gaffer.EUNAVAILABLE, "following files on %s: %v", s.name, err)
	}
	msg := strings.TrimSpace(s.stderr.String())
	if msg == "" {
		msg = exitText(result(s.waitErr, s.name))
	}
	return gaffer.Errorf(gaffer.EUNAVAILABLE, "following files on %s stopped: %s", s.name, msg)
}

// exitText says how a process ended, for people.
func exitText(r gaffer.Result) string {
	switch {
	case r.Signal != "":
		return "killed by SIG" + r.Signal
	case r.Err != nil:
		return gaffer.ErrorMessage(r.Err)
	}
	return "exit status " + strconv.Itoa(r.ExitCode)
}
