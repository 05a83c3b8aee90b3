package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The host "local" is offered by default only on a loopback listen address.
func TestLocalHostDecision(t *testing.T) {
	for _, tc := range []struct {
		mode, listen string
		on, warn     bool
		why          string
	}{
		{"auto", "127.0.0.1:8080", true, false, "loopback"},
		{"auto", "127.9.9.9:8080", true, false, "loopback"},
		{"auto", "[::1]:8080", true, false, "loopback"},
		{"auto", "localhost:8080", true, false, "loopback"},
		{"auto", "0.0.0.0:8080", false, false, "--local=true"},
		{"auto", ":8080", false, false, "not loopback"},
		{"auto", "[::]:8080", false, false, "not loopback"},
		{"auto", "192.0.2.2:8080", false, false, "not loopback"},
		{"auto", "gaffer.example:8080", false, false, "not loopback"},
		{"true", "0.0.0.0:8080", true, true, "anyone who reaches"},
		{"true", "127.0.0.1:8080", true, false, "--local"},
		{"false", "127.0.0.1:8080", false, false, "--local=false"},
	} {
		on, warn, why := decideLocal(tc.mode, tc.listen)
		if on != tc.on || warn != tc.warn || !strings.Contains(why, tc.why) {
			t.Errorf("--local=%s --listen %s: on %t warn %t %q; want on %t warn %t, saying %q", tc.mode, tc.listen, on, warn, why, tc.on, tc.warn, tc.why)
		}
	}
}

func TestLocalFlagValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "auto"},
		{[]string{"--local"}, "true"},
		{[]string{"--local=true"}, "true"},
		{[]string{"--local=false"}, "false"},
		{[]string{"--local=auto"}, "auto"},
	} {
		c, err := parseServeFlags(tc.args, os.Stderr)
		if err != nil || string(c.local) != tc.want {
			t.Errorf("%q: %q %v", tc.args, c.local, err)
		}
	}
	if _, err := parseServeFlags([]string{"--local=maybe"}, os.Stderr); err == nil {
		t.Error("--local=maybe accepted")
	}
}

// End to end: a server listening on every interface does not offer
// "local" unless told to.
func TestLocalHostNotOnWildcard(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "hosts.yaml")
	os.WriteFile(inv, []byte("hosts:\n  - name: box\n    address: 192.0.2.99\n"), 0o600)
	hostNames := func(ts *testServer) []string {
		resp := ts.request(t, "GET", "/api/hosts", nil)
		defer resp.Body.Close()
		var hosts []struct{ Name string }
		if err := json.NewDecoder(resp.Body).Decode(&hosts); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		return names
	}
	ts := startServer(t, "--listen", "0.0.0.0:0", "--inventory", inv)
	if names := hostNames(ts); strings.Contains(strings.Join(names, ","), "local") {
		t.Errorf("wildcard listen offers local: %v", names)
	}
	resp := ts.request(t, "POST", "/api/jobs", strings.NewReader(`{"command":"id","hosts":["local"]}`), "Content-Type", "application/json")
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("job on local: %s", resp.Status)
	}
	ts.Stop(t)

	ts = startServer(t, "--listen", "0.0.0.0:0", "--inventory", inv, "--local=true")
	if names := hostNames(ts); !strings.Contains(strings.Join(names, ","), "local") {
		t.Errorf("--local=true does not offer local: %v", names)
	}
	ts = startServer(t, "--inventory", inv)
	if names := hostNames(ts); !strings.Contains(strings.Join(names, ","), "local") {
		t.Errorf("loopback listen does not offer local: %v", names)
	}
}

// Whatever --listen says, "local" is offered by default only for a
// loopback host, and the decision always says why.
func FuzzLocalDecision(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080", "[::1]:1", "localhost:0", "0.0.0.0:80", ":80", "[fe80::1%lo]:80", "[::ffff:127.0.0.1]:80", "127.0.0.1", "", "::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, listen string) {
		on, warn, why := decideLocal("auto", listen)
		if warn || why == "" {
			t.Fatalf("%q: warn %t why %q", listen, warn, why)
		}
		if !on {
			return
		}
		host, _, err := net.SplitHostPort(listen)
		if err != nil {
			host = listen
		}
		host, _, _ = strings.Cut(host, "%")
		if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("%q: local offered on a host that is not loopback", listen)
		}
	})
}
