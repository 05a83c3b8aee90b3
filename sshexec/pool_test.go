package sshexec_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"github.com/gaffer-dev/gaffer/sshexec"
)

// dialCounter counts the TCP connections an executor opens, by address.
type dialCounter struct {
	mu    sync.Mutex
	addrs map[string]int
}

func countDials(e *sshexec.Executor) *dialCounter {
	dc := &dialCounter{addrs: map[string]int{}}
	e.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dc.mu.Lock()
		dc.addrs[addr]++
		dc.mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return dc
}

func (dc *dialCounter) get() map[string]int {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	m := map[string]int{}
	for k, v := range dc.addrs {
		m[k] = v
	}
	return m
}

// 40 hosts (three daemons) through one executor at once: all succeed, with
// one connection per host, reused by the next command.
func TestExecManyHosts(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 40})
	e := newExecutor(t, s)
	dc := countDials(e)
	hosts := s.Hosts()

	runAll := func() {
		var wg sync.WaitGroup
		for i := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out, errOut bytes.Buffer
				r := e.Exec(context.Background(), &hosts[i], gaffer.ExecSpec{Command: "uname -a"}, &out, &errOut)
				if r != (gaffer.Result{}) || !strings.HasPrefix(out.String(), "Linux ") || errOut.Len() > 0 {
					t.Errorf("%s: result %+v, stdout %q, stderr %q", hosts[i].Name, r, out.String(), errOut.String())
				}
			}()
		}
		wg.Wait()
	}
	runAll()
	runAll()

	dials := dc.get()
	if len(dials) != len(hosts) {
		t.Errorf("dialed %d addresses, want %d: %v", len(dials), len(hosts), dials)
	}
	for addr, n := range dials {
		if n != 1 {
			t.Errorf("%s dialed %d times, want once", addr, n)
		}
	}
	if st := e.Stats(); st.Conns != len(hosts) || st.Sessions != 0 || st.Dials != int64(len(hosts)) {
		t.Errorf("stats = %+v, want %d connections, no session", st, len(hosts))
	}
}

// Concurrent commands on one host share a connection up to
// MaxSessionsPerConn; beyond that another connection opens.
func TestExecSessionsPerConnection(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	e := newExecutor(t, s)
	e.MaxSessionsPerConn = 4
	h := s.Hosts()[0]
	dir := sharedDir(t)
	flag := filepath.Join(dir, "go")

	const n = 10
	bufs := make([]*buffer, n)
	results := make([]<-chan gaffer.Result, n)
	for i := range n {
		bufs[i] = newBuffer()
		results[i] = execAsync(context.Background(), e, &h,
			fmt.Sprintf("echo started; while [ ! -e %s ]; do sleep 0.02; done; echo %d", flag, i), bufs[i], bufs[i])
	}
	for i := range n {
		bufs[i].waitFor(t, "started\n")
	}
	// 10 sessions at 4 per connection.
	if st := e.Stats(); st.Conns != 3 || st.Sessions != n || st.Dials != 3 {
		t.Errorf("stats while running = %+v, want 3 connections, %d sessions", st, n)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if r := waitResult(t, results[i], s); r != (gaffer.Result{}) || bufs[i].String() != fmt.Sprintf("started\n%d\n", i) {
			t.Errorf("run %d: result %+v, output %q", i, r, bufs[i].String())
		}
	}
	// The next command reuses a connection.
	if r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "true"}, nil, nil); r != (gaffer.Result{}) {
		t.Fatalf("result = %+v", r)
	}
	if st := e.Stats(); st.Dials != 3 || st.Sessions != 0 {
		t.Errorf("stats after = %+v, want still 3 dials and no session", st)
	}
}

// A server that allows fewer sessions than MaxSessionsPerConn (sshd's
// MaxSessions) refuses the extra ones: they go to another connection.
func TestExecServerMaxSessions(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1, MaxSessions: 2})
	e := newExecutor(t, s) // MaxSessionsPerConn 8
	h := s.Hosts()[0]
	flag := filepath.Join(sharedDir(t), "go")
	const n = 6
	bufs := make([]*buffer, n)
	results := make([]<-chan gaffer.Result, n)
	for i := range n {
		bufs[i] = newBuffer()
		results[i] = execAsync(context.Background(), e, &h,
			fmt.Sprintf("echo started; while [ ! -e %s ]; do sleep 0.02; done", flag), bufs[i], bufs[i])
	}
	for i := range n {
		bufs[i].waitFor(t, "started\n")
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if r := waitResult(t, results[i], s); r != (gaffer.Result{}) {
			t.Errorf("run %d: result %+v\nsshd log:\n%s", i, r, s.Log())
		}
	}
	if st := e.Stats(); st.Conns < 3 {
		t.Errorf("stats = %+v, want at least 3 connections for 6 sessions at 2 each", st)
	}
}

// An unused connection closes after IdleTimeout; the next command dials
// again.
func TestExecIdleConnectionCloses(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	e := newExecutor(t, s)
	e.IdleTimeout = 100 * time.Millisecond
	h := s.Hosts()[0]
	if r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "true"}, nil, nil); r != (gaffer.Result{}) {
		t.Fatalf("result = %+v", r)
	}
	waitStats(t, e, func(st sshexec.Stats) bool { return st.Conns == 0 })
	if r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "true"}, nil, nil); r != (gaffer.Result{}) {
		t.Fatalf("result = %+v", r)
	}
	if st := e.Stats(); st.Dials != 2 || st.Conns != 1 {
		t.Errorf("stats = %+v, want 2 dials, 1 connection", st)
	}
}

// waitStats waits until the executor's stats satisfy ok.
func waitStats(t *testing.T, e *sshexec.Executor, ok func(sshexec.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(e.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v", e.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A pooled connection that died is not used again: the next command gets a
// new one, whether or not the keepalive noticed first.
func TestExecDeadConnectionReplaced(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	for _, noticed := range []bool{false, true} {
		t.Run(fmt.Sprintf("noticed=%v", noticed), func(t *testing.T) {
			t.Parallel()
			p := sshtest.StartProxy(t, s.Addrs[0])
			e := newExecutor(t, s)
			e.KnownHostsFile = s.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{p.Addr()}})
			h := s.Hosts()[0]
			h.Address, h.Port = "127.0.0.1", p.Port()
			var out bytes.Buffer
			if r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "echo one"}, &out, &out); r != (gaffer.Result{}) {
				t.Fatalf("result = %+v", r)
			}
			p.Cut()
			if noticed {
				waitStats(t, e, func(st sshexec.Stats) bool { return st.Conns == 0 })
			}
			if r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "echo two"}, &out, &out); r != (gaffer.Result{}) || out.String() != "one\ntwo\n" {
				t.Fatalf("result = %+v, output %q", r, out.String())
			}
			if st := e.Stats(); st.Dials != 2 || st.Conns != 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// A host that is down costs its connect error for that run only: the next
// run dials again.
func TestExecDownHostNotCached(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := newExecutor(t, s)
	h := s.Hosts()[0]
	h.Address, h.Port = "127.0.0.1", port
	for range 2 {
		r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "true"}, nil, nil)
		if r.Err == nil || !strings.Contains(r.Err.Error(), "connection refused") {
			t.Fatalf("result = %+v", r)
		}
	}
	if st := e.Stats(); st.Dials != 2 || st.Conns != 0 {
		t.Errorf("stats = %+v, want 2 dials", st)
	}
}

// Close closes the pooled connections; Exec then fails with a message.
func TestExecClose(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 2})
	e := newExecutor(t, s)
	hosts := s.Hosts()
	for i := range hosts {
		if r := e.Exec(context.Background(), &hosts[i], gaffer.ExecSpec{Command: "true"}, nil, nil); r != (gaffer.Result{}) {
			t.Fatalf("result = %+v", r)
		}
	}
	if st := e.Stats(); st.Conns != 2 {
		t.Fatalf("stats = %+v", st)
	}
	e.Close()
	if st := e.Stats(); st.Conns != 0 {
		t.Errorf("stats after Close = %+v", st)
	}
	r := e.Exec(context.Background(), &hosts[0], gaffer.ExecSpec{Command: "true"}, nil, nil)
	if r.Err == nil || !strings.Contains(gaffer.ErrorMessage(r.Err), "shut down") {
		t.Errorf("Exec after Close: %+v", r)
	}
}
