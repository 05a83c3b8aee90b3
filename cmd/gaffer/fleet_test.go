package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// 40 hosts (39 on three sshd daemons, one unreachable): the unreachable one
// and one with a wrong host key fail with clear errors, the other 38
// succeed, and the job is failed and says which.
func TestFleet40Hosts(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 39})
	hosts := sshd.Hosts()
	// host-39's known key is wrong; "down" listens nowhere.
	good := sshd.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: sshd.Addrs[:38]})
	wrong := sshd.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: sshd.Addrs[38:], WrongKey: true})
	a, _ := os.ReadFile(good)
	b, _ := os.ReadFile(wrong)
	known := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(known, append(a, b...), 0o600)
	inv := writeInventory(t, hosts, fmt.Sprintf(
		"  - name: down\n    address: 127.0.0.1\n    port: 1\n    user: %s\n    identity_file: %s\n    labels: {role: web}\n", sshd.User, sshd.KeyFile))
	ts := startServer(t, "--inventory", inv, "--known-hosts", known)

	out, errOut, code := gafferCLI(t, ts, "run", "-l", "role=web", "--", "uname", "-a")
	if code == 0 {
		t.Fatalf("run on 40 hosts with two broken: exit 0")
	}
	for _, h := range hosts[:38] {
		if !strings.Contains(out, h.Name+" ") {
			t.Errorf("no output from %s", h.Name)
		}
	}
	if !strings.Contains(errOut, "host-39 failed") || !strings.Contains(errOut, "host key mismatch for host-39") {
		t.Errorf("wrong host key not reported clearly:\n%s", errOut)
	}
	if !strings.Contains(errOut, "down failed") || !strings.Contains(errOut, "connection refused") {
		t.Errorf("unreachable host not reported clearly:\n%s", errOut)
	}
	resp := ts.request(t, "GET", "/api/jobs?limit=1", nil)
	var list []gaffer.Job
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	j := list[0]
	if j.Status != gaffer.StatusFailed || len(j.Runs) != 40 {
		t.Fatalf("job: %s, %d runs", j.Status, len(j.Runs))
	}
	ok := 0
	for _, r := range j.Runs {
		if r.Status == gaffer.StatusSucceeded {
			ok++
		}
	}
	if ok != 38 {
		t.Fatalf("%d runs succeeded, want 38", ok)
	}
}

// marker is a unique sleep argument ("1000.<digits>") that finds the job's
// processes in the host's process table.
func marker(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("1000.%d", uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
}

// Cancel and timeout stop everything the job started on the host: children,
// a script that ignores TERM, and PTY sessions.
func TestFleetCancelLeavesNothing(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts)
	for _, tc := range []struct {
		name    string
		command func(m string) string
		pty     bool
		timeout bool
	}{
		{"children", func(m string) string { return "echo go; sh -c 'sleep " + m + " &'; sleep " + m }, false, false},
		{"trap TERM", func(m string) string { return "trap '' TERM; echo go; sleep " + m + "; sleep " + m }, false, false},
		{"pty", func(m string) string { return "echo go; sh -c 'sleep " + m + " &'; sleep " + m }, true, false},
		{"timeout", func(m string) string { return "trap '' TERM; echo go; sleep " + m }, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := marker(t)
			req := gaffer.JobRequest{Hosts: []string{"host-1"}, Command: tc.command(m), PTY: tc.pty}
			if tc.timeout {
				req.Timeout = gaffer.Duration(1e9)
			}
			job := ts.startJob(t, req)
			s := ts.openSSE(t, job.ID, "")
			s.readLines(t, 2) // "running on" and "go"
			s.Close()
			if len(sshd.ProcessesWith(t, m)) == 0 {
				t.Fatalf("the job's processes never started: %v", sshd.Processes(t))
			}
			if !tc.timeout {
				resp := ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
				resp.Body.Close()
			}
			j := ts.waitJob(t, job.ID)
			want := gaffer.StatusCanceled
			if tc.timeout {
				want = gaffer.StatusTimedOut
			}
			if j.Status != want || j.Runs[0].Status != want {
				t.Fatalf("job %s run %+v, want %s", j.Status, j.Runs[0], want)
			}
			sshd.WaitNoProcessesWith(t, m)
		})
	}
}

// With pty a Python script that does not flush streams line by line.
func TestFleetPTYStreamsLines(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts)
	// The script runs as the test user: the gate files must be where it can look.
	dir, err := os.MkdirTemp("", "gaffer-pty-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	gate := filepath.Join(dir, "gate")
	// The script prints a line, then waits until the test has seen it: the
	// job can only end if every line streamed before the script exited.
	script := fmt.Sprintf(`python3 -c '
import os, time
for i in range(3):
    print("tick %%d" %% i)
    while not os.path.exists("%s.%%d" %% i):
        time.sleep(0.02)
'`, gate)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1"}, Command: script, PTY: true})
	s := ts.openSSE(t, job.ID, "")
	defer s.Close()
	for i := 0; i < 3; i++ {
		for {
			recs, _ := s.readLines(t, 1)
			if len(recs) == 0 {
				t.Fatalf("stream ended before tick %d", i)
			}
			if strings.TrimRight(string(recs[0].Data), "\r") == fmt.Sprintf("tick %d", i) {
				break
			}
		}
		os.WriteFile(fmt.Sprintf("%s.%d", gate, i), nil, 0o666)
	}
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("pty job: %s %+v", j.Status, j.Runs[0])
	}
}

// A host behind a bastion is reached through it, whether its ProxyJump
// comes from an ssh_config or proxy_jump in the inventory. The target is
// made unreachable from the server's own process (root), as a host on a
// private network is: only the bastion's forwarding (its sessions run as
// the test user) gets through.
func TestProxyJump(t *testing.T) {
	bastion := sshtest.Start(t, sshtest.Options{Hosts: 1})
	target := sshtest.Start(t, sshtest.Options{Hosts: 1})
	known := filepath.Join(t.TempDir(), "known_hosts")
	a, _ := os.ReadFile(bastion.KnownHosts)
	b, _ := os.ReadFile(target.KnownHosts)
	os.WriteFile(known, append(a, b...), 0o600)
	bh, th := bastion.Hosts()[0], target.Hosts()[0]
	sshtest.RejectRoot(t, target.Addrs[0])
	if c, err := net.DialTimeout("tcp", target.Addrs[0], 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("the target %s is reachable directly: the test would prove nothing", target.Addrs[0])
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("direct dial to the target: %v, want connection refused", err)
	}

	sshConfig := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(sshConfig, []byte(fmt.Sprintf(`Host bastion
  HostName %s
  Port %d

Host inner
  HostName %s
  Port %d
  ProxyJump bastion

Host *
  User %s
  IdentityFile %s
`, bh.Address, bh.Port, th.Address, th.Port, bh.User, bh.IdentityFile)), 0o600)
	bh.Name, th.Name = "bastion", "inner"
	inventory := writeInventory(t, []gaffer.Host{bh, th}, "")
	b, _ = os.ReadFile(inventory)
	os.WriteFile(inventory, append(b, []byte("    proxy_jump: bastion\n")...), 0o600) // on the last host, inner

	for _, tc := range []struct{ name, flag, file string }{
		{"ssh_config", "--ssh-config", sshConfig},
		{"inventory", "--inventory", inventory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, tc.flag, tc.file, "--known-hosts", known)
			out, errOut, code := gafferCLI(t, ts, "hosts")
			if code != 0 || !strings.Contains(out, "inner") || !strings.Contains(out, "bastion") {
				t.Fatalf("hosts: %q %q", out, errOut)
			}
			// The route stays on the server: it names the jump hosts' keys.
			resp := ts.request(t, "GET", "/api/hosts", nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), bh.IdentityFile) {
				t.Errorf("/api/hosts shows an identity file: %s", body)
			}
			// sshd sets SSH_CONNECTION to "client-ip client-port server-ip server-port".
			out, errOut, code = gafferCLI(t, ts, "run", "-H", "inner", "--", `set -- $SSH_CONNECTION; echo "reached $3:$4 as $(id -un)"`)
			want := fmt.Sprintf("inner | reached %s:%d as %s", th.Address, th.Port, th.User)
			if code != 0 || !strings.Contains(out, want) {
				t.Fatalf("through the bastion: code %d, want %q:\n%s\n%s", code, want, out, errOut)
			}
			if n := metric(t, ts, "gaffer_ssh_dials_total"); n < 2 {
				t.Errorf("gaffer_ssh_dials_total = %v, want the bastion and inner counted", n)
			}
		})
	}
}

// metric reads one unlabelled value from /metrics.
func metric(t *testing.T, ts *testServer, name string) float64 {
	t.Helper()
	resp := ts.request(t, "GET", "/metrics", nil)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, line)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in /metrics", name)
	return 0
}
