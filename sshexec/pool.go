package sshexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaffer-dev/gaffer"
	"golang.org/x/crypto/ssh"
)

// pool keeps the open connections of an Executor by hop key. A connection
// is used by sessions (limited per connection, as sshd limits them) and by
// the connections tunneled through it to hosts behind it (not limited:
// MaxSessions does not count forwarded channels).
type pool struct {
	e     *Executor
	dials atomic.Int64

	mu     sync.Mutex
	conns  map[string][]*conn
	closed bool
}

// conn is one pooled SSH connection and why it ended, if it did.
type conn struct {
	p   *pool
	key string
	t   target
	log *slog.Logger

	// ready is closed when dialing ended: then client, or err, is set.
	ready chan struct{}
	err   error
	// retry tells those who waited for a failed dial to dial themselves:
	// it failed because the dialer's own ctx ended.
	retry  bool
	client *ssh.Client
	via    *conn // the jump host connection this one is tunneled through

	closed chan struct{} // closed by watch when the connection has ended
	mu     sync.Mutex
	cause  error // why the connection ended

	// Guarded by p.mu.
	sessions, tunnels int
	limit             int  // sessions allowed
	gone              bool // out of the pool: ended, idle or executor closed
	idle              *time.Timer
}

func newPool(e *Executor) *pool { return &pool{e: e, conns: map[string][]*conn{}} }

// get returns a connection to the last of hops with a session slot (or, for
// a tunnel, a use) taken: a pooled one with room, one being dialed by
// another caller, or a new one. The caller must release it.
func (p *pool) get(ctx context.Context, hops []hop, tunnel bool) (*conn, error) {
	h := &hops[len(hops)-1]
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "cannot connect to %s: the executor is shut down", h.t)
		}
		c := p.pick(h.key, tunnel)
		dialer := c == nil
		if dialer {
			c = &conn{p: p, key: h.key, t: h.t, log: p.e.logger().With("host", h.t.String()),
				ready: make(chan struct{}), closed: make(chan struct{}), limit: p.e.maxSessions()}
			p.conns[h.key] = append(p.conns[h.key], c)
		}
		c.take(tunnel)
		p.mu.Unlock()

		if dialer {
			client, via, err := p.dial(ctx, hops)
			p.mu.Lock()
			c.client, c.via = client, via
			if err == nil && p.closed {
				err = gaffer.Errorf(gaffer.EUNAVAILABLE, "cannot connect to %s: the executor is shut down", h.t)
				c.client.Close()
				go c.watch() // lets go of the jump host connection
			}
			if err != nil {
				c.err, c.retry = err, ctx.Err() != nil
				c.gone = true
				p.remove(c)
			}
			close(c.ready)
			p.mu.Unlock()
			if err != nil {
				return nil, err
			}
			c.log.Debug("ssh connection opened")
			go c.watch()
			go c.keepalive(p.e.keepaliveInterval(), p.e.keepaliveTimeout())
			return c, nil
		}

		select {
		case <-c.ready:
		case <-ctx.Done():
			p.release(c, tunnel)
			return nil, ctx.Err()
		}
		if c.err == nil {
			return c, nil
		}
		p.release(c, tunnel)
		if !c.retry {
			// The same host failed for a caller that started at the same
			// time: the answer would be the same.
			return nil, c.err
		}
	}
}

// pick returns a usable connection for key with room, or nil. Called with
// p.mu held.
func (p *pool) pick(key string, tunnel bool) *conn {
	for _, c := range p.conns[key] {
		if !c.gone && (tunnel || c.sessions < c.limit) {
			return c
		}
	}
	return nil
}

// take counts one more use of c. Called with p.mu held.
func (c *conn) take(tunnel bool) {
	if tunnel {
		c.tunnels++
	} else {
		c.sessions++
	}
	if c.idle != nil {
		c.idle.Stop()
		c.idle = nil
	}
}

// release ends one use of c taken by get; an unused connection closes
// after IdleTimeout.
func (p *pool) release(c *conn, tunnel bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tunnel {
		c.tunnels--
	} else {
		c.sessions--
	}
	if c.sessions > 0 || c.tunnels > 0 || c.gone || c.client == nil {
		return
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	var timer *time.Timer
	timer = time.AfterFunc(p.e.idleTimeout(), func() {
		p.mu.Lock()
		// take stops the timer, but it may have fired just before.
		if c.idle != timer || c.gone || c.sessions > 0 || c.tunnels > 0 {
			p.mu.Unlock()
			return
		}
		c.gone = true
		p.remove(c)
		p.mu.Unlock()
		c.log.Debug("closing idle ssh connection")
		c.client.Close()
	})
	c.idle = timer
}

// full lowers c's session limit to what it holds now: the server refused
// one more session (its MaxSessions is below MaxSessionsPerConn).
func (p *pool) full(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.limit = max(1, c.sessions)
}

// discard takes a connection found broken out of the pool at once, so
// that get does not pick it again before watch notices, and closes it.
func (p *pool) discard(c *conn, err error) {
	p.mu.Lock()
	if !c.gone {
		c.gone = true
		p.remove(c)
	}
	p.mu.Unlock()
	c.fail(err)
}

// remove takes c out of the pool's lists. Called with p.mu held.
func (p *pool) remove(c *conn) {
	list := p.conns[c.key]
	for i, x := range list {
		if x == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.conns, c.key)
	} else {
		p.conns[c.key] = list
	}
}

// dial connects to the last of hops, through a pooled connection to the
// hop before it if there is one (returned as via, in use by the new
// connection).
func (p *pool) dial(ctx context.Context, hops []hop) (client *ssh.Client, via *conn, err error) {
	p.dials.Add(1)
	h := &hops[len(hops)-1]
	if len(hops) == 1 {
		nc, err := p.e.dial(ctx, h.t)
		if err != nil {
			return nil, nil, err
		}
		client, err := p.e.handshake(ctx, nc, h)
		return client, nil, err
	}

	jump := hops[len(hops)-2].t
	via, err = p.get(ctx, hops[:len(hops)-1], true)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, gaffer.Errorf(gaffer.ErrorCode(err), "jump host for %s: %s", h.t, gaffer.ErrorMessage(err))
	}
	timeout := p.e.connectTimeout()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	nc, err := via.client.DialContext(dctx, "tcp", h.t.addr)
	cancel()
	if err != nil {
		p.release(via, true)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		var oce *ssh.OpenChannelError
		msg := netErrText(err, timeout)
		if errors.As(err, &oce) {
			// OpenSSH says why in the message: "Connection refused".
			msg = lowerFirst(oce.Message)
		}
		return nil, nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "connect to %s through jump host %s: %s", h.t, jump, msg)
	}
	client, err = p.e.handshake(ctx, nc, h)
	if err != nil {
		p.release(via, true)
		return nil, nil, err
	}
	return client, via, nil
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// close closes every connection and refuses new ones.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*conn
	for _, list := range p.conns {
		for _, c := range list {
			if c.client != nil && !c.gone {
				c.gone = true
				all = append(all, c)
			}
		}
	}
	p.conns = map[string][]*conn{}
	p.mu.Unlock()
	for _, c := range all {
		c.fail(errors.New("executor closed"))
	}
}

func (p *pool) stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Dials: p.dials.Load()}
	for _, list := range p.conns {
		for _, c := range list {
			if c.client != nil && !c.gone {
				s.Conns++
				s.Sessions += c.sessions
			}
		}
	}
	return s
}

// watch records why the connection ended, drops it from the pool and lets
// go of the jump host connection it was tunneled through.
func (c *conn) watch() {
	err := c.client.Wait()
	c.fail(err)
	close(c.closed)
	p := c.p
	p.mu.Lock()
	if !c.gone {
		c.gone = true
		p.remove(c)
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	p.mu.Unlock()
	c.log.Debug("ssh connection ended", "cause", c.lostCause())
	if c.via != nil {
		p.release(c.via, true)
	}
}

// isClosed reports whether the connection has ended.
func (c *conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// fail records the first reason for losing the connection and closes it.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.cause == nil && err != nil {
		c.cause = err
	}
	c.mu.Unlock()
	c.client.Close()
}

// lostCause waits briefly for the connection to end and says why it did.
func (c *conn) lostCause() string {
	select {
	case <-c.closed:
	case <-time.After(time.Second):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause == nil {
		return ""
	}
	return netErrText(c.cause, 0)
}

// keepalive sends a request every interval and closes the connection when
// one is not answered within timeout: x/crypto has no keepalive of its own,
// and a black-holed connection would otherwise hang for as long as TCP
// takes to give up (hours). It runs for the connection's whole life, so a
// pooled idle connection that died is dropped before a command picks it.
func (c *conn) keepalive(interval, timeout time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-tick.C:
		}
		replied := make(chan error, 1)
		go func() {
			// OpenSSH answers with a failure, which is a reply all the same.
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		timer := time.NewTimer(timeout)
		select {
		case <-c.closed:
			timer.Stop()
			return
		case err := <-replied:
			timer.Stop()
			if err != nil {
				c.fail(err)
				return
			}
		case <-timer.C:
			c.log.Warn("ssh keepalive unanswered, closing connection", "timeout", timeout)
			c.fail(fmt.Errorf("no reply to keepalive within %s", timeout))
			return
		}
	}
}
