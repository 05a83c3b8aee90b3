// Package localexec implements gaffer.Executor and gaffer.Follower for hosts
// marked local: the command (or the follow script) runs on the server itself
// with /bin/sh -c, in a minimal environment rather than the server's.
package localexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Defaults for the zero fields of Executor.
const (
	DefaultShell       = "/bin/sh"
	DefaultKillGrace   = 2 * time.Second
	DefaultOutputDelay = 1 * time.Second
)

// Executor runs commands on the server. The zero value uses the defaults.
//
// A PTY is not supported: ExecSpec.PTY is ignored and the command gets
// pipes, so a job that asks for one still runs on local hosts.
type Executor struct {
	// Shell runs the command as Shell -c COMMAND; default /bin/sh.
	Shell string
	// KillGrace is how long a cancelled command's process group has between
	// SIGTERM and SIGKILL.
	KillGrace time.Duration
	// OutputDelay is how long output is still read after the shell exits.
	// A background child (cmd &) keeps the pipes open, possibly for ever;
	// it is left running, but Exec returns.
	OutputDelay time.Duration
	// Env is added to the minimal environment commands get (PATH, HOME,
	// USER, LOGNAME, SHELL, LANG, TZ): "NAME=value" sets NAME, "NAME"
	// passes on the server's NAME if it has one. See ParseEnv.
	Env    []string
	Logger *slog.Logger
}

var _ gaffer.Executor = (*Executor)(nil)

// Exec runs spec.Command and writes its output to stdout and stderr as it
// arrives. The two writers are never called at the same time, so one writer
// may serve both. On cancellation Result.Err wraps ctx.Err().
func (e *Executor) Exec(ctx context.Context, host *gaffer.Host, spec gaffer.ExecSpec, stdout, stderr io.Writer) gaffer.Result {
	name := "the server"
	if host != nil && host.Name != "" {
		name = host.Name
	}
	if ctx.Err() != nil {
		return gaffer.Result{ExitCode: -1, Err: canceled(ctx, name)}
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}

	// Our own pipes rather than exec's: exec.Cmd.Wait would wait for every
	// process holding them, background children included.
	outR, outW, err := os.Pipe()
	if err != nil {
		return gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, "run the command on %s: %v", name, err)}
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, "run the command on %s: %v", name, err)}
	}
	defer errR.Close()

	cmd := exec.Command(e.shell(), "-c", spec.Command)
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.Env = e.environ()
	for _, name := range slices.Sorted(maps.Keys(spec.Env)) {
		cmd.Env = append(cmd.Env, name+"="+spec.Env[name]) // the last of a name wins
	}
	// Its own process group, so cancelling reaches the shell's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, "run the command on %s: start %s: %v", name, e.shell(), err)}
	}
	log := e.logger().With("host", name, "pid", cmd.Process.Pid)

	var wmu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(2)
	go copyOut(&wg, &wmu, stdout, outR, log, "stdout")
	go copyOut(&wg, &wmu, stderr, errR, log, "stderr")

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-ctx.Done():
		waitErr = e.stop(cmd.Process.Pid, waited)
	}

	readersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(readersDone)
	}()
	select {
	case <-readersDone:
	case <-time.After(orDefault(e.OutputDelay, DefaultOutputDelay)):
		log.Debug("output still open after the shell exited (background process?): no longer read")
		outR.SetReadDeadline(time.Now())
		errR.SetReadDeadline(time.Now())
		<-readersDone
	}

	r := result(waitErr, name)
	if ctx.Err() != nil {
		r.Err = canceled(ctx, name)
	}
	return r
}

// stop ends a cancelled command: SIGTERM to its process group, then SIGKILL
// once the grace is over unless the whole group is gone. It returns the
// shell's Wait error.
func (e *Executor) stop(pgid int, waited <-chan error) error {
	syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(orDefault(e.KillGrace, DefaultKillGrace))
	defer grace.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var err error
	exited := false
	for {
		select {
		case err = <-waited:
			exited = true
			waited = nil
		case <-poll.C:
		case <-grace.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
			if !exited {
				err = <-waited
			}
			return err
		}
		// Once the shell is reaped, the group id cannot be reused while
		// any member is left, so polling it is safe.
		if exited && !groupAlive(pgid) {
			return err
		}
	}
}

// groupAlive reports whether a process of group pgid is still running.
// Zombies do not count: orphans are re-parented to PID 1, which in a
// container may never reap them, and they would hold the group "alive".
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) == syscall.ESRCH {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and ")".
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		if f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// copyOut passes each chunk to w as soon as it is read. After a write
// error the rest is read and dropped, so the command never blocks on a full
// pipe.
func copyOut(wg *sync.WaitGroup, mu *sync.Mutex, w io.Writer, r io.Reader, log *slog.Logger, stream string) {
	defer wg.Done()
	buf := make([]byte, gaffer.MinReadBuffer)
	var werr error
	for {
		n, err := r.Read(buf)
		if n > 0 && werr == nil {
			mu.Lock()
			_, werr = w.Write(buf[:n])
			mu.Unlock()
			if werr != nil {
				log.Error("write command output", "stream", stream, "err", werr)
			}
		}
		if err != nil {
			return
		}
		buf = gaffer.GrowReadBuffer(buf, n)
	}
}

func result(err error, name string) gaffer.Result {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return gaffer.Result{ExitCode: 0}
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return gaffer.Result{ExitCode: -1, Signal: signalName(ws.Signal())}
		}
		return gaffer.Result{ExitCode: ee.ExitCode()}
	}
	return gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, "command on %s: exit status unknown: %v", name, err)}
}

// signalNames are the Linux signal names without "SIG", as ssh reports them.
var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "HUP", syscall.SIGINT: "INT", syscall.SIGQUIT: "QUIT", syscall.SIGILL: "ILL",
	syscall.SIGTRAP: "TRAP", syscall.SIGABRT: "ABRT", syscall.SIGBUS: "BUS", syscall.SIGFPE: "FPE",
	syscall.SIGKILL: "KILL", syscall.SIGUSR1: "USR1", syscall.SIGSEGV: "SEGV", syscall.SIGUSR2: "USR2",
	syscall.SIGPIPE: "PIPE", syscall.SIGALRM: "ALRM", syscall.SIGTERM: "TERM", syscall.SIGSTKFLT: "STKFLT",
	syscall.SIGCHLD: "CHLD", syscall.SIGCONT: "CONT", syscall.SIGSTOP: "STOP", syscall.SIGTSTP: "TSTP",
	syscall.SIGTTIN: "TTIN", syscall.SIGTTOU: "TTOU", syscall.SIGURG: "URG", syscall.SIGXCPU: "XCPU",
	syscall.SIGXFSZ: "XFSZ", syscall.SIGVTALRM: "VTALRM", syscall.SIGPROF: "PROF", syscall.SIGWINCH: "WINCH",
	syscall.SIGIO: "IO", syscall.SIGPWR: "PWR", syscall.SIGSYS: "SYS",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return strconv.Itoa(int(s))
}

// canceled is the Result.Err of a cancelled command: a message for people
// that still matches errors.Is(err, context.Canceled) or DeadlineExceeded.
func canceled(ctx context.Context, name string) error {
	what := "canceled"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		what = "timed out"
	}
	return fmt.Errorf("%w: %w", gaffer.Errorf(gaffer.EUNAVAILABLE, "command on %s %s", name, what), ctx.Err())
}

func (e *Executor) shell() string {
	if e.Shell != "" {
		return e.Shell
	}
	return DefaultShell
}

func (e *Executor) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
