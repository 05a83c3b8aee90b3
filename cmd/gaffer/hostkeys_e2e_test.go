package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// hostsCLI runs `gaffer hosts SUB ARGS... --server URL --token T`.
func hostsCLI(t *testing.T, ts *testServer, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append(append([]string{"hosts"}, args...), "--server", ts.URL, "--token", testToken)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := exitCode(run(ctx, all, &out, &errOut), &errOut)
	return out.String(), errOut.String(), code
}

// knownHostsLine is the one entry of an sshtest known_hosts file.
func knownHostsLine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func mustContain(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

// Through the CLI, against a real sshd and the real stores (SQLite,
// PostgreSQL): an unknown host is refused with its fingerprint and listed →
// approved → runs, and the managed known_hosts file holds its key; then the
// host's key changes → refused with both fingerprints, listed, not approved
// without --replace, replaced with it.
func TestHostKeyApprovalEndToEnd(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			var db []string
			if store == "postgres" {
				db = []string{"--database-url", testDatabaseURL(t)}
			}
			testHostKeyApproval(t, db...)
		})
	}
}

func testHostKeyApproval(t *testing.T, db ...string) {
	first := sshtest.Start(t, sshtest.Options{Hosts: 1})
	fp := first.HostKeyFingerprint()
	dataDir := t.TempDir()
	missing := filepath.Join(t.TempDir(), "no_known_hosts")
	managed := filepath.Join(dataDir, "known_hosts")
	ts := startServer(t, append([]string{"--data-dir", dataDir, "--inventory", writeInventory(t, first.Hosts(), ""), "--known-hosts", missing}, db...)...)

	if b, err := os.ReadFile(managed); err != nil || strings.Contains(string(b), "ssh-ed25519") {
		t.Fatalf("managed known_hosts at start: %v\n%s", err, b)
	}
	_, errOut, code := gafferCLI(t, ts, "run", "-H", "host-1", "--", "echo", "hi")
	if code == 0 {
		t.Fatal("a host with an unknown key ran the command")
	}
	mustContain(t, "run's stderr", errOut, "unknown host key for host-1", "ssh-ed25519 "+fp, "gaffer hosts approve host-1")

	out, errOut, code := hostsCLI(t, ts, "keys")
	if code != 0 {
		t.Fatalf("hosts keys: %d %s", code, errOut)
	}
	mustContain(t, "hosts keys", out, "HOST", "FINGERPRINT", "host-1", "pending", "ssh-ed25519", fp)

	out, errOut, code = hostsCLI(t, ts, "approve", "host-1")
	if code != 0 || out != "host-1: approved ssh-ed25519 "+fp+"\n" {
		t.Fatalf("hosts approve: %d %q %q", code, out, errOut)
	}
	b, _ := os.ReadFile(managed)
	mustContain(t, "managed known_hosts", string(b), knownHostsLine(t, first.KnownHosts), "approved by admin")

	out, errOut, code = gafferCLI(t, ts, "run", "-H", "host-1", "--", "echo", "hi")
	if code != 0 || out != "host-1 | hi\n" {
		t.Fatalf("run after approval: %d %q %q", code, out, errOut)
	}
	out, _, _ = hostsCLI(t, ts, "keys", "--host", "host-1")
	mustContain(t, "hosts keys after approval", out, "approved", fp, "admin")

	// The approval is in the audit trail.
	resp := ts.request(t, "GET", "/api/audit?action="+gaffer.AuditHostKeyApprove, nil)
	var events []gaffer.AuditEvent
	json.NewDecoder(resp.Body).Decode(&events)
	resp.Body.Close()
	if len(events) != 1 || events[0].Target != "host host-1" || !strings.Contains(string(events[0].Detail), fp) {
		t.Fatalf("audit: %+v", events)
	}

	// The host is reinstalled: same name, another key. A new server on the
	// same data (the store is the truth) refuses it.
	ts.Stop(t)
	second := sshtest.Start(t, sshtest.Options{Hosts: 1, NewHostKey: true})
	newFP := second.HostKeyFingerprint()
	ts = startServer(t, append([]string{"--data-dir", dataDir, "--inventory", writeInventory(t, second.Hosts(), ""), "--known-hosts", missing}, db...)...)
	if b, _ := os.ReadFile(managed); !strings.Contains(string(b), knownHostsLine(t, first.KnownHosts)) {
		t.Fatalf("managed known_hosts after a restart:\n%s", b)
	}
	_, errOut, code = gafferCLI(t, ts, "run", "-H", "host-1", "--", "echo", "hi")
	if code == 0 {
		t.Fatal("a changed host key was accepted")
	}
	mustContain(t, "run's stderr", errOut, "host key mismatch for host-1", "offered ssh-ed25519 "+newFP,
		"ssh-ed25519 "+fp+" (approved by admin)", "never replaced automatically", "gaffer hosts approve host-1 --replace")
	out, _, _ = hostsCLI(t, ts, "keys")
	mustContain(t, "hosts keys after the change", out, fp, newFP, "pending (changed)", "approved")

	_, errOut, code = hostsCLI(t, ts, "approve", "host-1")
	if code != 1 {
		t.Fatalf("approve a changed key without --replace: code %d", code)
	}
	mustContain(t, "approve without --replace", errOut, "host-1", "gaffer hosts approve host-1 --replace")
	if _, _, code := gafferCLI(t, ts, "run", "-H", "host-1", "--", "true"); code == 0 {
		t.Fatal("the changed key was approved without --replace")
	}

	out, errOut, code = hostsCLI(t, ts, "approve", "host-1", "--replace", "--fingerprint", newFP)
	if code != 0 || out != "host-1: approved ssh-ed25519 "+newFP+"\nhost-1: replaced "+fp+"\n" {
		t.Fatalf("approve --replace: %d %q %q", code, out, errOut)
	}
	b, _ = os.ReadFile(managed)
	mustContain(t, "managed known_hosts after --replace", string(b), knownHostsLine(t, second.KnownHosts))
	if strings.Contains(string(b), knownHostsLine(t, first.KnownHosts)) {
		t.Errorf("the replaced key is still in the managed file:\n%s", b)
	}
	out, errOut, code = gafferCLI(t, ts, "run", "-H", "host-1", "--", "echo", "hi")
	if code != 0 || out != "host-1 | hi\n" {
		t.Fatalf("run after --replace: %d %q %q", code, out, errOut)
	}
}

// A jump host that is not an inventory host (a wildcard Host entry of the
// ssh_config) is checked and approved under its name, and its known_hosts
// entry counts: a changed key is not approved without --replace.
func TestHostKeyJumpHostEndToEnd(t *testing.T) {
	bastion := sshtest.Start(t, sshtest.Options{Hosts: 1})
	target := sshtest.Start(t, sshtest.Options{Hosts: 1})
	known := filepath.Join(t.TempDir(), "known_hosts")
	a, _ := os.ReadFile(bastion.WriteKnownHosts(t, sshtest.KnownHostsOptions{WrongKey: true}))
	b, _ := os.ReadFile(target.KnownHosts)
	os.WriteFile(known, append(a, b...), 0o600)
	bh, th := bastion.Hosts()[0], target.Hosts()[0]
	sshConfig := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(sshConfig, []byte(fmt.Sprintf(`Host jump-*
  HostName %s
  Port %d

Host inner
  HostName %s
  Port %d
  ProxyJump jump-1

Host *
  User %s
  IdentityFile %s
`, bh.Address, bh.Port, th.Address, th.Port, bh.User, bh.IdentityFile)), 0o600)
	ts := startServer(t, "--ssh-config", sshConfig, "--known-hosts", known)

	_, errOut, code := gafferCLI(t, ts, "run", "-H", "inner", "--", "echo", "hi")
	if code == 0 {
		t.Fatal("ran through a jump host whose key changed")
	}
	mustContain(t, "run's stderr", errOut, "host key mismatch for jump-1", bastion.HostKeyFingerprint(), "gaffer hosts approve jump-1 --replace")
	out, _, _ := hostsCLI(t, ts, "keys", "--host", "jump-1")
	mustContain(t, "hosts keys", out, "jump-1", "pending", bastion.HostKeyFingerprint())

	_, errOut, code = hostsCLI(t, ts, "approve", "jump-1")
	if code != 1 {
		t.Fatalf("approve without --replace a key other than the file's: code %d", code)
	}
	mustContain(t, "approve without --replace", errOut, "already has a trusted host key", "never replaced automatically")
	if _, _, code := hostsCLI(t, ts, "approve", "jump-1", "--replace"); code != 0 {
		t.Fatalf("approve --replace: code %d", code)
	}
	out, errOut, code = gafferCLI(t, ts, "run", "-H", "inner", "--", "echo", "hi")
	if code != 0 || out != "inner | hi\n" {
		t.Fatalf("run after approving the jump host: %d %q %q", code, out, errOut)
	}
}

// Instances sharing PostgreSQL share the approvals: a key approved through
// one is accepted by the other at once, and each lists what the other saw.
func TestHostKeySharedInstances(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 2})
	fp := sshd.HostKeyFingerprint()
	db, arch, inv := testDatabaseURL(t), t.TempDir(), writeInventory(t, sshd.Hosts(), "")
	missing := filepath.Join(t.TempDir(), "no_known_hosts")
	a := startServer(t, "--instance", "a", "--database-url", db, "--archive-dir", arch, "--inventory", inv, "--known-hosts", missing)
	b := startServer(t, "--instance", "b", "--database-url", db, "--archive-dir", arch, "--inventory", inv, "--known-hosts", missing)

	if _, _, code := gafferCLI(t, a, "run", "-H", "host-2", "--", "true"); code == 0 {
		t.Fatal("unknown key accepted")
	}
	out, _, _ := hostsCLI(t, b, "keys")
	mustContain(t, "keys listed by the other instance", out, "host-2", "pending", fp)
	if out, errOut, code := hostsCLI(t, b, "approve", "host-2"); code != 0 {
		t.Fatalf("approve on b: %d %q %q", code, out, errOut)
	}
	if out, errOut, code := gafferCLI(t, a, "run", "-H", "host-2", "--", "echo", "hi"); code != 0 || out != "host-2 | hi\n" {
		t.Fatalf("run on a after the approval on b: %d %q %q", code, out, errOut)
	}
	managed, _ := os.ReadFile(filepath.Join(b.DataDir, "known_hosts"))
	mustContain(t, "b's managed known_hosts", string(managed), "127.0.0.3")
}
