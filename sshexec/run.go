package sshexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
	"golang.org/x/crypto/ssh"
)

// pidMarker starts the line the wrapper prints before the command: the
// marker, a nonce of the run, and the shell's pid.
const pidMarker = "GAFFER_PID:"

// wrap returns the command line that sshd runs with the login shell: the
// command as it is, after a first command on its first line that prints the
// shell's pid. sshd starts every command with setsid(), so the pid is also
// the process group (and session) id of the command and of whatever it
// starts: killing the group from another session stops them all, which
// works where sshd does not pass signals on (root logins, OpenSSH before
// 7.9) and without a PTY, where closing the session leaves the command
// running.
//
// The command runs in the shell sshd started, so the user's start-up files
// run once, as for `ssh host cmd`. It is not quoted or eval'ed but follows
// "echo ... $$;" on the same line: its quoting, $0, line numbers, exit
// status, heredocs and error messages are those of the bare command (dash's
// eval would prefix every error with "eval:", bash's would shift line
// numbers). The echo is a command of its own whatever the command's first
// line holds, since ";" binds loosest; a syntax error on that line means
// the echo does not run either, and the shell exits 2 as it would have.
// The only trace: bash quotes a faulty first line with the echo in front.
// The login shell must know "$$" and ";": sh, dash, bash, zsh, ksh, busybox,
// csh.
func wrap(command, nonce string) string {
	return "echo " + pidMarker + nonce + " $$; " + command
}

// exports sets env in the remote shell before the command: setting it over
// the session would need AcceptEnv in the host's sshd. Values are single-
// quoted, a ' written as '\”; docs/security.md says who can see them.
func exports(env map[string]string) string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(env)) {
		if !gaffer.ValidEnvName(name) {
			continue // JobRequest.Validate refuses it
		}
		b.WriteString("export " + name + "='" + strings.ReplaceAll(env[name], "'", `'\''`) + "'; ")
	}
	return b.String()
}

func newNonce() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// run starts the command in a new session on c and waits for it, or for
// ctx. It releases c's session slot. retry reports that no session could
// be opened but another connection might do: nothing was started.
func (e *Executor) run(ctx context.Context, c *conn, hops []hop, spec gaffer.ExecSpec, stdout, stderr io.Writer) (r gaffer.Result, retry bool) {
	p, t := c.p, c.t
	sess, err := c.client.NewSession()
	if err != nil {
		p.release(c, false)
		r := gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, "open an ssh session on %s: %s", t, netErrText(err, 0))}
		var oce *ssh.OpenChannelError
		switch {
		case ctx.Err() != nil:
			return gaffer.Result{ExitCode: -1, Err: canceled(ctx, t)}, false
		case errors.As(err, &oce) && oce.Reason == ssh.ConnectionFailed:
			// sshd's MaxSessions is below MaxSessionsPerConn.
			c.log.Debug("server refused another session on the connection", "err", err)
			p.full(c)
			return r, true
		case !errors.As(err, &oce):
			// Not a refusal: the connection itself failed (a pooled one
			// can die between keepalives).
			c.log.Debug("pooled connection found dead", "err", err)
			p.discard(c, err)
			return r, true
		}
		return r, false
	}
	setupErr := func(format string, err error) (gaffer.Result, bool) {
		sess.Close()
		p.release(c, false)
		if ctx.Err() != nil {
			return gaffer.Result{ExitCode: -1, Err: canceled(ctx, t)}, false
		}
		return gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, format, t, netErrText(err, 0))}, false
	}
	if spec.PTY {
		modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
		// Wide, so that tools which fit their output to the terminal
		// rarely wrap lines.
		if err := sess.RequestPty("xterm", 50, 250, modes); err != nil {
			return setupErr("request a terminal on %s: %s", err)
		}
	}
	outPipe, err := sess.StdoutPipe()
	if err != nil {
		return setupErr("open stdout on %s: %s", err)
	}
	errPipe, err := sess.StderrPipe()
	if err != nil {
		return setupErr("open stderr on %s: %s", err)
	}

	// No write reaches the caller's writers after Exec returns, even if
	// the session is still draining then.
	g := &gate{}
	defer g.close()
	nonce := newNonce()
	out := &pidFilter{w: gatedWriter{g, stdout}, marker: []byte(pidMarker + nonce + " "), pid: make(chan int, 1)}
	if err := sess.Start(wrap(exports(spec.Env)+spec.Command, nonce)); err != nil {
		return setupErr("start the command on %s: %s", err)
	}

	done := make(chan struct{})
	var waitErr error
	go func() {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			c.copy(out, outPipe, "stdout")
			out.flush()
		}()
		go func() {
			defer wg.Done()
			c.copy(gatedWriter{g, stderr}, errPipe, "stderr")
		}()
		wg.Wait()
		waitErr = sess.Wait()
		sess.Close()
		p.release(c, false)
		close(done)
	}()

	select {
	case <-done:
		return c.result(waitErr), false
	case <-ctx.Done():
	}
	return e.stop(ctx, c, hops, sess, out.pid, done, &waitErr), false
}

// stop ends a cancelled command: SIGTERM to its process group, SIGKILL
// after CancelGrace. It returns once the command has ended, or soon after
// SIGKILL if sshd does not say so.
func (e *Executor) stop(ctx context.Context, c *conn, hops []hop, sess *ssh.Session, pidc <-chan int, done <-chan struct{}, waitErr *error) gaffer.Result {
	ended := func() gaffer.Result {
		r := c.result(*waitErr)
		r.Err = canceled(ctx, c.t)
		return r
	}
	grace := time.NewTimer(e.cancelGrace())
	defer grace.Stop()
	graceOver := false
	// The pid line is the wrapper's first output: it is here unless the
	// command was cancelled as it started.
	pid := 0
	select {
	case pid = <-pidc:
	case <-done:
		return ended()
	case <-grace.C:
		graceOver = true
	}
	c.log.Info("stopping cancelled command", "pid", pid, "reason", ctx.Err())

	// sshd passes this on only for non-root logins; elsewhere it is
	// ignored, hence the kill from another session too.
	if err := sess.Signal(ssh.SIGTERM); err != nil {
		c.log.Debug("send SIGTERM", "err", err)
	}
	termSent := make(chan struct{})
	if pid > 0 {
		go func() {
			defer close(termSent)
			e.signalGroup(c, hops, pid, "TERM")
		}()
	} else {
		close(termSent)
	}
	if !graceOver {
		select {
		case <-done:
		case <-grace.C:
		}
	}
	if pid > 0 {
		<-termSent
		// Even when the command has ended: what it started in the
		// background (or what ignores SIGTERM) is still in its group.
		e.signalGroup(c, hops, pid, "KILL")
	}

	// After SIGKILL sshd reports the end at once, unless the connection is
	// dead or a process that left the group holds the output open.
	wait := time.NewTimer(e.keepaliveInterval() + e.keepaliveTimeout())
	defer wait.Stop()
	select {
	case <-done:
		return ended()
	case <-wait.C:
	}
	// With a PTY, closing also hangs up the terminal (SIGHUP).
	sess.Close()
	c.log.Warn("cancelled command did not report its end; leaving it", "pid", pid)
	return gaffer.Result{ExitCode: -1, Err: canceled(ctx, c.t)}
}

// signalGroup sends sig to the process group (and session) pid from
// another session: on the command's own connection if it still works,
// beyond MaxSessionsPerConn since sshd's MaxSessions leaves room; else on
// another connection, dialed if need be.
func (e *Executor) signalGroup(c *conn, hops []hop, pid int, sig string) {
	// "kill -s SIG --", not "kill -SIG --", which dash rejects. pkill -s
	// also reaches processes that made a group of their own in the session.
	cmd := fmt.Sprintf("kill -s %[1]s -- -%[2]d 2>/dev/null; pkill -%[1]s -s %[2]d 2>/dev/null; exit 0", sig, pid)
	ctx, cancel := context.WithTimeout(context.Background(), e.connectTimeout()+e.keepaliveTimeout())
	defer cancel()
	if !c.isClosed() {
		err := runSession(ctx, c.client, cmd)
		if err == nil {
			c.log.Debug("signalled process group", "signal", sig, "pgid", pid)
			return
		}
		c.log.Debug("signal process group on the command's connection", "signal", sig, "err", err)
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) && oce.Reason == ssh.ConnectionFailed {
			c.p.full(c) // so that get does not pick it again
		}
	}
	other, err := c.p.get(ctx, hops, false)
	if err != nil {
		c.log.Warn("cannot stop the cancelled command: no connection", "signal", sig, "pgid", pid, "err", err)
		return
	}
	defer c.p.release(other, false)
	if err := runSession(ctx, other.client, cmd); err != nil {
		c.log.Warn("cannot stop the cancelled command", "signal", sig, "pgid", pid, "err", err)
		return
	}
	c.log.Debug("signalled process group from another connection", "signal", sig, "pgid", pid)
}

// runSession runs cmd in a new session and waits for it, or for ctx.
func runSession(ctx context.Context, client *ssh.Client, cmd string) error {
	errc := make(chan error, 1)
	go func() {
		s, err := client.NewSession()
		if err != nil {
			errc <- err
			return
		}
		defer s.Close()
		errc <- s.Run(cmd)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// copy passes each chunk to w as soon as it is read: never held back
// for a whole line. After a write error the rest is read and dropped, so
// the remote command is not blocked on a full window.
func (c *conn) copy(w io.Writer, r io.Reader, stream string) {
	buf := make([]byte, gaffer.MinReadBuffer)
	var werr error
	for {
		n, err := r.Read(buf)
		if n > 0 && werr == nil {
			if _, werr = w.Write(buf[:n]); werr != nil {
				c.log.Error("write command output", "stream", stream, "err", werr)
			}
		}
		if err != nil {
			return
		}
		buf = gaffer.GrowReadBuffer(buf, n)
	}
}

// result reads session.Wait's verdict.
func (c *conn) result(err error) gaffer.Result {
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return gaffer.Result{ExitCode: 0}
	case errors.As(err, &ee) && ee.Signal() != "":
		return gaffer.Result{ExitCode: -1, Signal: strings.TrimPrefix(ee.Signal(), "SIG")}
	case errors.As(err, &ee):
		return gaffer.Result{ExitCode: ee.ExitStatus()}
	}
	// No exit status: the connection ended under the command.
	msg := fmt.Sprintf("connection to %s lost, exit status unknown", c.t)
	if cause := c.lostCause(); cause != "" {
		msg += " (" + cause + ")"
	}
	return gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, "%s", msg)}
}

// gate serializes the writes of a command's two streams and stops them
// when Exec returns.
type gate struct {
	mu   sync.Mutex
	shut bool
}

func (g *gate) close() {
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
}

type gatedWriter struct {
	g *gate
	w io.Writer
}

func (w gatedWriter) Write(b []byte) (int, error) {
	w.g.mu.Lock()
	defer w.g.mu.Unlock()
	if w.g.shut {
		return len(b), nil
	}
	return w.w.Write(b)
}

// maxHeld bounds what pidFilter holds back looking for the pid line.
const maxHeld = 64 << 10

// pidFilter passes stdout on without the wrapper's pid line, and sends the
// pid on pid. Until that line, bytes are held back up to the next newline;
// lines before it (from the login shell's start-up files) are passed on.
// With a PTY the line ends in "\r\n".
type pidFilter struct {
	w      io.Writer
	marker []byte
	pid    chan int // buffered: gets one value
	held   []byte
	found  bool // the pid line is behind us (or given up on)
}

func (f *pidFilter) Write(b []byte) (int, error) {
	if f.found {
		return f.w.Write(b)
	}
	f.held = append(f.held, b...)
	for !f.found {
		i := bytes.IndexByte(f.held, '\n')
		if i < 0 {
			if len(f.held) <= maxHeld {
				return len(b), nil
			}
			f.found = true // not coming: pass everything on
			break
		}
		if pid, ok := f.parse(f.held[:i]); ok {
			f.pid <- pid
			f.found = true
			f.held = f.held[i+1:]
			break
		}
		if _, err := f.w.Write(f.held[:i+1]); err != nil {
			return len(b), err
		}
		f.held = f.held[i+1:]
	}
	rest := f.held
	f.held = nil
	if len(rest) > 0 {
		if _, err := f.w.Write(rest); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}

func (f *pidFilter) parse(line []byte) (int, bool) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	digits, ok := bytes.CutPrefix(line, f.marker)
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(string(digits))
	return pid, err == nil && pid > 1
}

// flush passes on what is held back when stdout ends without a pid line.
func (f *pidFilter) flush() {
	if !f.found && len(f.held) > 0 {
		f.w.Write(f.held)
	}
	f.found = true
	f.held = nil
}
