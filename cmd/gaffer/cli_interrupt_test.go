package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gaffer-dev/gaffer"
)

// ptyCLI is the gaffer binary (this test binary as main) running a client
// command on a pseudo-terminal, as a person at a terminal runs it.
type ptyCLI struct {
	cmd    *exec.Cmd
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
}

// startPTY starts `gaffer args...` against ts on a new pseudo-terminal.
func startPTY(t *testing.T, ts *testServer, args ...string) *ptyCLI {
	t.Helper()
	master, slave := openPTY(t)
	all := append([]string{args[0], "--server", ts.URL, "--token", testToken}, args[1:]...)
	cmd := exec.Command(os.Args[0], all...)
	cmd.Env = append(os.Environ(), "GAFFER_TEST_MAIN=1", "NO_COLOR=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// Its own session with the terminal as its controlling one: Ctrl-C
	// typed there reaches it (and only it) as SIGINT.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	p := &ptyCLI{cmd: cmd, master: master, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return // EIO once the process and its terminal are gone
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		master.Close()
	})
	return p
}

// openPTY opens a pseudo-terminal pair (posix_openpt, unlockpt, ptsname).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	return master, slave
}

func (p *ptyCLI) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the terminal shows s.
func (p *ptyCLI) waitFor(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.output(), s) {
			return
		}
	}
	t.Fatalf("the terminal never showed %q; it shows:\n%s", s, p.output())
}

// typeIn writes to the terminal as a person typing would.
func (p *ptyCLI) typeIn(t *testing.T, s string) {
	t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// interrupt types Ctrl-C and waits for the question it asks.
func (p *ptyCLI) interrupt(t *testing.T) {
	t.Helper()
	p.typeIn(t, "\x03")
	p.waitFor(t, "[c/D]")
}

// exit waits for the process to end and returns its exit code.
func (p *ptyCLI) exit(t *testing.T) int {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.cmd.Wait() }()
	select {
	case err := <-errc:
		<-p.done
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatalf("gaffer did not exit; the terminal shows:\n%s", p.output())
	}
	return -1
}

// Ctrl-C on `gaffer run` asks whether to cancel the job or detach, and
// waits for the answer: "c" cancels the job and follows it to its end.
// (It used to detach at once: the signal also ended the command's context.)
func TestCLIRunCtrlCCancels(t *testing.T) {
	ts := startServer(t)
	p := startPTY(t, ts, "run", "-H", "local", "--", "echo started; sleep 60")
	p.waitFor(t, "local | started")
	p.interrupt(t)
	time.Sleep(200 * time.Millisecond) // a person takes a moment to answer
	if out := p.output(); strings.Contains(out, "detached") {
		t.Fatalf("detached without waiting for the answer:\n%s", out)
	}
	p.typeIn(t, "c\n")
	code := p.exit(t)
	out := p.output()
	if !strings.Contains(out, "canceling job 1") || !strings.Contains(out, "job canceled") || code != 1 {
		t.Fatalf("exit code %d; terminal:\n%s", code, out)
	}
	if job := ts.job(t, 1); job.Status != gaffer.StatusCanceled {
		t.Fatalf("job is %s, want canceled", job.Status)
	}
}

// Ctrl-C then Enter (the default answer) detaches: the job goes on.
func TestCLIRunCtrlCDetaches(t *testing.T) {
	ts := startServer(t)
	p := startPTY(t, ts, "run", "-H", "local", "--", "echo started; sleep 60")
	p.waitFor(t, "local | started")
	p.interrupt(t)
	p.typeIn(t, "\n")
	if code := p.exit(t); code != 130 || !strings.Contains(p.output(), "detached; job 1 goes on") {
		t.Fatalf("exit code %d; terminal:\n%s", code, p.output())
	}
	if job := ts.job(t, 1); job.Status != gaffer.StatusRunning {
		t.Fatalf("job is %s after detaching, want running", job.Status)
	}
}
