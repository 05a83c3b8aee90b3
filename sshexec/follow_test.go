package sshexec_test

import (
	"fmt"
	"testing"

	"github.com/gaffer-dev/gaffer/internal/followtest"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// followLogins are the hosts the follow script is checked on: dash
// (Debian's /bin/sh), bash whose start-up file prints (the script's output
// starts after it), and busybox sh with only busybox's commands, as on
// Alpine.
var followLogins = []struct {
	name string
	opts sshtest.Options
}{
	{"dash", sshtest.Options{Hosts: 1}},
	{"bash", sshtest.Options{Hosts: 1, Bashrc: "echo noise from bashrc; echo D 1 0 5"}},
	{"busybox", sshtest.Options{Hosts: 1, Busybox: true}},
}

// The Follower contract, on every kind of login shell; many files on one
// host take one connection and one session.
func TestFollow(t *testing.T) {
	t.Parallel()
	for _, login := range followLogins {
		t.Run(login.name, func(t *testing.T) {
			t.Parallel()
			s := sshtest.Start(t, login.opts)
			e := newExecutor(t, s)
			followtest.Run(t, followtest.Target{Follower: e, Host: s.Hosts()[0], ManyFiles: func(t *testing.T) {
				if st := e.Stats(); st.Conns != 1 || st.Sessions != 1 {
					t.Errorf("stats %+v, want 1 connection with 1 session", st)
				}
			}})
		})
	}
}

// A cut connection is retried; every line written meanwhile arrives once,
// and neither the scripts the cuts left behind nor the last one outlive
// Follow.
func TestFollowReconnectExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, login := range followLogins {
		t.Run(login.name, func(t *testing.T) {
			t.Parallel()
			s := sshtest.Start(t, login.opts)
			p := sshtest.StartProxy(t, s.Addrs[0])
			e := newExecutor(t, s)
			e.KnownHostsFile = s.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{p.Addr()}})
			h := s.Hosts()[0]
			h.Address, h.Port = "127.0.0.1", p.Port()
			followtest.ExactlyOnce(t, e, h, func(string) { p.Cut() })
		})
	}
}

// Append → event latency (docs/follow.md), dash, bash and busybox hosts
// (bash and busybox wait between rounds with read -t, dash with sleep):
// go test -run X -bench FollowLatency ./sshexec
func BenchmarkFollowLatency(b *testing.B) {
	for _, login := range followLogins {
		s := sshtest.Start(b, login.opts)
		e := newExecutor(b, s)
		for _, files := range []int{1, 40} {
			b.Run(fmt.Sprintf("%s/files=%d", login.name, files), func(b *testing.B) {
				followtest.Latency(b, e, s.Hosts()[0], files)
			})
		}
	}
}
