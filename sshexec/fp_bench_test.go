package sshexec_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/sshexec"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// BenchmarkFingerprints is the cost, per host, of the fingerprints a job
// start's audit event names, with a known_hosts file of 1000 hosts.
func BenchmarkFingerprints(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		pub, _ := ssh.NewPublicKey(priv.Public())
		sb.WriteString(knownhosts.Line([]string{fmt.Sprintf("10.0.%d.%d", i/256, i%256)}, pub) + "\n")
	}
	path := filepath.Join(b.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	e := &sshexec.Executor{KnownHostsFile: path, HostKeys: &fakeHostKeys{}}
	h := &gaffer.Host{Name: "web-1", Address: "10.0.1.1", User: "u"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if fps, err := e.Fingerprints(context.Background(), h); err != nil || len(fps) != 1 {
			b.Fatalf("%v %v", fps, err)
		}
	}
}
