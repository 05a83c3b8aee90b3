package localexec_test

import (
	"os"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/followtest"
	"github.com/gaffer-dev/gaffer/localexec"
)

// The Follower contract, on the server itself with /bin/sh.
func TestFollow(t *testing.T) {
	t.Parallel()
	e := &localexec.Executor{}
	followtest.Run(t, followtest.Target{Follower: e, Host: gaffer.Host{Name: "local", Local: true}, Root: os.Geteuid() == 0})
}
