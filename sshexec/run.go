package sshexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
	"golang.org/x/crypto/ssh"
)

// conn is one SSH connection and why it ended, if it did.
type conn struct {
	client *ssh.Client
	t      target
	log    *slog.Logger

	closed chan struct{} // closed by watch when the connection has ended
	mu     sync.Mutex
	cause  error // why the connection ended
}

// watch records why the connection ended.
func (c *conn) watch() {
	err := c.client.Wait()
	c.fail(err)
	close(c.closed)
}

// fail records the first reason for losing the connection and closes it.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.cause == nil && err != nil {
		c.cause = err
	}
	c.mu.Unlock()
	c.client.Close()
}

// lostCause waits briefly for the connection to end and says why it did.
func (c *conn) lostCause() string {
	select {
	case <-c.closed:
	case <-time.After(time.Second):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause == nil {
		return ""
	}
	return netErrText(c.cause, 0)
}

// keepalive sends a request every interval and closes the connection when
// one is not answered within timeout: x/crypto has no keepalive of its own,
// and a black-holed connection would otherwise hang for as long as TCP
// takes to give up (hours).
func (c *conn) keepalive(interval, timeout time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		replied := make(chan error, 1)
		go func() {
			// OpenSSH answers with a failure, which is a reply all the same.
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		timer := time.NewTimer(timeout)
		select {
		case <-stop:
			timer.Stop()
			return
		case err := <-replied:
			timer.Stop()
			if err != nil {
				c.fail(err)
				return
			}
		case <-timer.C:
			c.log.Warn("ssh keepalive unanswered, closing connection", "timeout", timeout)
			c.fail(fmt.Errorf("no reply to keepalive within %s", timeout))
			return
		}
	}
}

// run starts the command in a new session and waits for it, or for ctx.
func (e *Executor) run(ctx context.Context, c *conn, spec gaffer.ExecSpec, stdout, stderr io.Writer) gaffer.Result {
	t := c.t
	// Until the output is flowing, cancelling ctx just drops the connection.
	stopSetup := context.AfterFunc(ctx, func() { c.fail(ctx.Err()) })
	setupErr := func(format string, err error) gaffer.Result {
		stopSetup()
		if ctx.Err() != nil {
			return gaffer.Result{ExitCode: -1, Err: canceled(ctx, t)}
		}
		return gaffer.Result{ExitCode: -1, Err: gaffer.Errorf(gaffer.EUNAVAILABLE, format, t, netErrText(err, 0))}
	}

	sess, err := c.client.NewSession()
	if err != nil {
		return setupErr("open an ssh session on %s: %s", err)
	}
	defer sess.Close()
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
	if err := sess.Start(spec.Command); err != nil {
		return setupErr("start the command on %s: %s", err)
	}
	if !stopSetup() {
		return gaffer.Result{ExitCode: -1, Err: canceled(ctx, t)}
	}

	var wmu sync.Mutex // writers are never called at the same time
	var wg sync.WaitGroup
	wg.Add(2)
	go c.copy(&wg, &wmu, stdout, outPipe, "stdout")
	go c.copy(&wg, &wmu, stderr, errPipe, "stderr")
	done := make(chan error, 1)
	go func() {
		wg.Wait()
		done <- sess.Wait()
	}()

	select {
	case err := <-done:
		return c.result(err)
	case <-ctx.Done():
	}

	// sshd delivers the signal to the command's process group, but only
	// for non-root logins (privilege separation); for root it is ignored.
	// Closing the connection then ends the command only if it has a PTY
	// (SIGHUP). Killing the remote process group from a second session is
	// left to a later change.
	if err := sess.Signal(ssh.SIGTERM); err != nil {
		c.log.Debug("send SIGTERM", "err", err)
	}
	grace := time.NewTimer(e.cancelGrace())
	defer grace.Stop()
	select {
	case err := <-done:
		r := c.result(err)
		r.Err = canceled(ctx, t)
		return r
	case <-grace.C:
	}
	c.fail(ctx.Err())
	<-done
	return gaffer.Result{ExitCode: -1, Err: canceled(ctx, t)}
}

// copy passes each chunk to w as soon as it is read: never held back
// for a whole line. After a write error the rest is read and dropped, so
// the remote command is not blocked on a full window.
func (c *conn) copy(wg *sync.WaitGroup, mu *sync.Mutex, w io.Writer, r io.Reader, stream string) {
	defer wg.Done()
	buf := make([]byte, 32<<10)
	var werr error
	for {
		n, err := r.Read(buf)
		if n > 0 && werr == nil {
			mu.Lock()
			_, werr = w.Write(buf[:n])
			mu.Unlock()
			if werr != nil {
				c.log.Error("write command output", "stream", stream, "err", werr)
			}
		}
		if err != nil {
			return
		}
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
