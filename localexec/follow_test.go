package localexec_test

import (
	"fmt"
	"os"
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

// Append → event latency (docs/follow.md): go test -run X -bench FollowLatency ./localexec
func BenchmarkFollowLatency(b *testing.B) {
	for _, files := range []int{1, 40} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			followtest.Latency(b, &localexec.Executor{}, gaffer.Host{Name: "local", Local: true}, files)
		})
	}
}
