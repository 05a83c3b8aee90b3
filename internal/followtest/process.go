package followtest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scripts returns the processes on this machine whose arguments hold
// marker and the follow script's inputs (only the shells running it), or
// marker alone (its children too): "PID ARGS" each.
func scripts(t *testing.T, marker string, shellsOnly bool) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	found := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(marker)) {
			continue
		}
		// The script's inputs are in front of it, in the shell's -c
		// argument; its children's arguments do not hold them.
		if shellsOnly && !bytes.Contains(cmdline, []byte("GF_NONCE=")) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
				continue // a zombie: dead already
			}
		}
		found[pid] = strings.ReplaceAll(string(cmdline), "\x00", " ")
	}
	return found
}

// WaitNoScripts waits until no process on this machine (a follow script
// or one of its commands) works on dir, and fails the test with the ones
// left if some still do after 10 s, a guard rather than a timing: a script
// whose session is gone dies at its next write, 2 s at most.
func WaitNoScripts(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := scripts(t, dir+"/", false)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for pid, args := range left {
				b.WriteString(strconv.Itoa(pid) + " " + short(args) + "\n")
			}
			t.Fatalf("processes left working on %s:\n%s", dir, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killScripts kills (SIGKILL) the shells running a follow script of dir on
// this machine, and fails the test if there is none. Their children
// (sleep, dd) are left to end on their own, as when a script is killed
// for running out of memory.
func killScripts(t *testing.T, dir string) {
	t.Helper()
	killed := 0
	for pid := range scripts(t, dir+"/", true) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatalf("no follow script of %s running", dir)
	}
}
