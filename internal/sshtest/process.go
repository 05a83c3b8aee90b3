package sshtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Processes lists the live processes of s.User as "PID PGID ARGS"
// lines. The user is shared by every Server in every test binary running
// now, so look for a string unique to your test (e.g. "sleep 1000.83125"),
// not for "sleep". Zombies are left out: they are already dead and show
// no arguments anyway.
func (s *Server) Processes(tb testing.TB) []string {
	tb.Helper()
	out, err := exec.Command("ps", "-u", s.User, "-o", "pid=,pgid=,stat=,args=").Output()
	// ps exits 1 when the user has no process at all.
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && len(out) == 0 {
		return nil
	} else if err != nil {
		tb.Fatalf("sshtest: ps -u %s: %v", s.User, err)
	}
	var procs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[2], "Z") {
			continue
		}
		procs = append(procs, f[0]+" "+f[1]+" "+strings.Join(f[3:], " "))
	}
	return procs
}

// ProcessesWith returns the test user's live processes whose line holds
// marker.
func (s *Server) ProcessesWith(tb testing.TB, marker string) []string {
	tb.Helper()
	var found []string
	for _, p := range s.Processes(tb) {
		if strings.Contains(p, marker) {
			found = append(found, p)
		}
	}
	return found
}

// WaitNoProcessesWith waits until no live process of the test user holds
// marker, and fails the test with the ones left if some still do after a
// few seconds. The wait only covers a process that got SIGKILL a moment
// ago and is not gone yet; a leftover "sleep 1000" is still there.
func (s *Server) WaitNoProcessesWith(tb testing.TB, marker string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := s.ProcessesWith(tb, marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("processes left on the host (PID PGID ARGS):\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SharedDir makes a temporary directory, removed when the test ends, that
// the test user can read: files written there by the test are on every
// test host (they are all this machine). Its name, unique, also finds the
// processes whose command line holds it.
func SharedDir(tb testing.TB, prefix string) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}
