package sshtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

var tableSeq atomic.Int64

// tablePrefix names the nftables tables this package adds; the pid of the
// test binary that added one follows it, so leftovers of a killed test can
// be told from tables of tests still running.
const tablePrefix = "gaffer_sshtest_"

var tableName = regexp.MustCompile(`^table inet (` + tablePrefix + `(\d+)_\d+)$`)

// RejectRoot makes TCP connections that root (uid 0) opens to addr fail
// with "connection refused" until the test ends, while other users still
// reach it. Tests run as root and sshd's sessions as User, so a host
// behind a bastion becomes reachable only through the bastion's forwarding,
// as a host on a private network is. It needs nft (apt-get install
// nftables; scripts/test installs it).
func RejectRoot(tb testing.TB, addr string) {
	tb.Helper()
	host, port, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		tb.Fatalf("sshtest: RejectRoot(%q): want a loopback IPv4 address:port", addr)
	}
	if _, err := strconv.Atoi(port); err != nil {
		tb.Fatalf("sshtest: RejectRoot(%q): bad port", addr)
	}
	if os.Geteuid() != 0 {
		tb.Fatalf("sshtest: RejectRoot needs root (run the tests with scripts/test)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		tb.Fatalf("sshtest: RejectRoot needs nft: apt-get install -y nftables (scripts/test does)")
	}
	dropStaleTables()
	table := fmt.Sprintf("%s%d_%d", tablePrefix, os.Getpid(), tableSeq.Add(1))
	script := fmt.Sprintf(`add table inet %[1]s
add chain inet %[1]s out { type filter hook output priority 0; policy accept; }
add rule inet %[1]s out meta skuid 0 ip daddr %[2]s tcp dport %[3]s reject with tcp reset
`, table, host, port)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("sshtest: nft: %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
			tb.Errorf("sshtest: remove nft table %s: %v: %s", table, err, out)
		}
	})
}

// dropStaleTables deletes tables left by test binaries that died before
// their cleanups ran: they would block a port a later test may get.
func dropStaleTables() {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		m := tableName.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[2])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		exec.Command("nft", "delete", "table", "inet", m[1]).Run()
	}
}
