package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// writeInventory writes an inventory for the sshd hosts plus extra entries.
func writeInventory(t *testing.T, hosts []gaffer.Host, extra string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - name: %s\n    address: %s\n    port: %d\n    user: %s\n    identity_file: %s\n    labels: {role: web}\n",
			h.Name, h.Address, h.Port, h.User, h.IdentityFile)
	}
	b.WriteString(extra)
	path := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The whole path over a real sshd: `gaffer run -H host-1 -- uptime`, output
// on several hosts by label, and clear errors for an unreachable host and
// an unknown host key.
func TestSSHEndToEnd(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 3})
	hosts := sshd.Hosts()
	inv := writeInventory(t, hosts, fmt.Sprintf(
		"  - name: down\n    address: 127.0.0.1\n    port: 1\n    user: %s\n    identity_file: %s\n", sshd.User, sshd.KeyFile))
	ts := startServer(t, "--inventory", inv, "--known-hosts", sshd.KnownHosts)

	out, errOut, code := gafferCLI(t, ts, "run", "-H", "host-1", "--", "uptime")
	if code != 0 || !strings.HasPrefix(out, "host-1 | ") || !strings.Contains(out, "load average") {
		t.Fatalf("run uptime: code %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	// Three hosts by label; stdout and stderr of each kept apart.
	job := ts.startJob(t, gaffer.JobRequest{Selector: "role=web", Command: `echo "out $(hostname -I 2>/dev/null | wc -c)"; echo err >&2; exit 0`})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded || len(j.Runs) != 3 {
		t.Fatalf("selector job: %s %d runs", j.Status, len(j.Runs))
	}
	for _, h := range hosts {
		recs := ts.ndjson(t, job.ID, "host="+h.Name+"&stream=stderr")
		if len(recs) != 1 || string(recs[0].Data) != "err" {
			t.Errorf("%s stderr: %+v", h.Name, recs)
		}
	}

	// An unreachable host fails its run with a clear error; the others are
	// not held back.
	job = ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-2", "down"}, Command: "echo ok"})
	j := ts.waitJob(t, job.ID)
	if j.Status != gaffer.StatusFailed {
		t.Fatalf("job with a down host: %s", j.Status)
	}
	for _, r := range j.Runs {
		switch r.Host {
		case "host-2":
			if r.Status != gaffer.StatusSucceeded || r.ExitCode == nil || *r.ExitCode != 0 {
				t.Errorf("host-2: %+v", r)
			}
		case "down":
			if r.Status != gaffer.StatusFailed || !strings.Contains(r.Error, "connection refused") || r.ExitCode != nil {
				t.Errorf("down: %+v", r)
			}
		}
	}

	// Exit codes and signals over SSH.
	job = ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-3"}, Command: "kill -KILL $$"})
	j = ts.waitJob(t, job.ID)
	if r := j.Runs[0]; r.Status != gaffer.StatusFailed || r.Signal != "KILL" || r.ExitCode != nil {
		t.Errorf("killed run: %+v", r)
	}
}

// --connect-timeout bounds the handshake with a host that takes the TCP
// connection and never speaks SSH: its run fails saying so.
func TestSSHConnectTimeoutFlag(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	p := sshtest.StartProxy(t, sshd.Addrs[0])
	p.Stall()
	h := sshd.Hosts()[0]
	h.Name, h.Address, h.Port = "mute", "127.0.0.1", p.Port()
	ts := startServer(t, "--inventory", writeInventory(t, []gaffer.Host{h}, ""), "--known-hosts", sshd.KnownHosts, "--connect-timeout", "1500ms")
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"mute"}, Command: "echo never"})
	r := ts.waitJob(t, job.ID).Runs[0]
	if want := "ssh handshake with mute (" + p.Addr() + ") failed: timed out after 1.5s"; r.Status != gaffer.StatusFailed || r.Error != want {
		t.Fatalf("run: %s %q, want failed %q", r.Status, r.Error, want)
	}
}

// A connect timeout that is not a duration above zero stops the server
// before it starts, naming the flag.
func TestConnectTimeoutFlagErrors(t *testing.T) {
	for _, tt := range []struct{ arg, err string }{
		{"0s", "--connect-timeout 0s: give a duration above zero, e.g. 10s"},
		{"-1s", "--connect-timeout -1s: give a duration above zero"},
		{"soon", `invalid value "soon" for flag -connect-timeout`},
	} {
		if _, err := parseServeFlags([]string{"--connect-timeout", tt.arg}, io.Discard); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("--connect-timeout %s: error %v, want one saying %q", tt.arg, err, tt.err)
		}
	}
	if c, err := parseServeFlags(nil, io.Discard); err != nil || c.connectTimeout != 10*time.Second {
		t.Errorf("default: %v, %v; want 10s", c.connectTimeout, err)
	}
}

// With an empty known_hosts the server refuses the host and says which key
// it was offered.
func TestSSHUnknownHostKey(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", empty)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1"}, Command: "echo never"})
	j := ts.waitJob(t, job.ID)
	r := j.Runs[0]
	if r.Status != gaffer.StatusFailed || !strings.Contains(r.Error, "host-1") || !strings.Contains(r.Error, sshd.HostKeyFingerprint()) {
		t.Fatalf("unknown host key: %+v", r)
	}
	// The log says it too, as a system line.
	recs := ts.ndjson(t, job.ID, "stream=system")
	if last := recs[len(recs)-1]; !strings.Contains(string(last.Data), sshd.HostKeyFingerprint()) {
		t.Fatalf("system line: %q", last.Data)
	}
}

// Raw bytes over SSH are exact too.
func TestSSHRawLogIsByteExact(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1"},
		Command: `printf 'a\000b\377\r\n'; head -c 3000000 /dev/zero | tr '\000' y; printf 'end'`})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job: %+v", j.Runs[0])
	}
	resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?format=raw&host=host-1&stream=stdout", job.ID), nil)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := "a\x00b\xff\r\n" + strings.Repeat("y", 3000000) + "end"
	if string(got) != want {
		t.Fatalf("raw: %d bytes, want %d", len(got), len(want))
	}
}
