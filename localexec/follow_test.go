package localexec_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/followtest"
	"github.com/gaffer-dev/gaffer/localexec"
)

// The Follower contract, on the server itself with /bin/sh.
func TestFollow(t *testing.T) {
	t.Parallel()
	// The script's chunk directory where the test removes it: a killed
	// script leaves it behind.
	e := &localexec.Executor{Env: []string{"TMPDIR=" + t.TempDir()}}
	followtest.Run(t, followtest.Target{Follower: e, Host: gaffer.Host{Name: "local", Local: true}, Root: os.Geteuid() == 0})
}

// The contract with the script run by dash itself: where bash is on the
// PATH, the launcher runs it in bash instead (internal/followsh).
func TestFollowDashWithoutBash(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	for _, c := range []string{"cat", "dd", "head", "mkfifo", "mktemp", "rm", "sleep", "stat", "tail"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skip(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, c)); err != nil {
			t.Fatal(err)
		}
	}
	e := &localexec.Executor{Shell: "/bin/dash", Env: []string{"TMPDIR=" + t.TempDir(), "PATH=" + bin}}
	followtest.Run(t, followtest.Target{Follower: e, Host: gaffer.Host{Name: "local", Local: true}, Root: os.Geteuid() == 0})
}

// Append → event latency (docs/follow.md): go test -run X -bench FollowLatency ./localexec
func BenchmarkFollowLatency(b *testing.B) {
	for _, files := range []int{1, 40} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			followtest.Latency(b, &localexec.Executor{}, gaffer.Host{Name: "local", Local: true}, files)
		})
	}
}
