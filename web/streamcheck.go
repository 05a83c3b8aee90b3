package web

import (
	"context"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// A log stream outlives the request check that opened it, maybe by hours.
// So every open stream is registered under its credential: revoking a token
// here ends its streams at once (endStreams), and one loop checks each
// credential holding streams again every StreamCheck, which ends them
// within that time when the token was revoked on another instance sharing
// the store, expired, or its session logged out.

// DefaultStreamCheck is how often open streams' credentials are checked.
const DefaultStreamCheck = 10 * time.Second

// streamCreds are the open streams of each credential.
type streamCreds struct {
	mu       sync.Mutex
	byCred   map[credential]*credStreams
	next     int
	checking bool // the check loop runs
}

type credStreams struct {
	user    User
	cancels map[int]context.CancelFunc
}

// watchStream registers a stream of u whose request context is ctx; the
// returned context ends when the credential no longer holds, and done
// unregisters the stream.
func (s *Server) watchStream(ctx context.Context, u User) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	sc := &s.streamCreds
	sc.mu.Lock()
	if sc.byCred == nil {
		sc.byCred = map[credential]*credStreams{}
	}
	cs := sc.byCred[u.cred]
	if cs == nil {
		cs = &credStreams{user: u, cancels: map[int]context.CancelFunc{}}
		sc.byCred[u.cred] = cs
	}
	sc.next++
	id := sc.next
	cs.cancels[id] = cancel
	if !sc.checking {
		sc.checking = true
		go s.checkStreams()
	}
	sc.mu.Unlock()
	return ctx, func() {
		cancel()
		sc.mu.Lock()
		defer sc.mu.Unlock()
		if cs := sc.byCred[u.cred]; cs != nil {
			delete(cs.cancels, id)
			if len(cs.cancels) == 0 {
				delete(sc.byCred, u.cred)
			}
		}
	}
}

// endStreams ends every open stream of the token (Bearer or session).
func (s *Server) endStreams(tokenID int64) {
	sc := &s.streamCreds
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for cred, cs := range sc.byCred {
		if cs.user.TokenID == tokenID {
			endAll(cs)
			delete(sc.byCred, cred)
		}
	}
}

func endAll(cs *credStreams) {
	for _, cancel := range cs.cancels {
		cancel()
	}
}

// checkStreams checks the credentials of open streams every StreamCheck
// until none is open; one store read per credential, however many streams
// it holds.
func (s *Server) checkStreams() {
	every := s.StreamCheck
	if every <= 0 {
		every = DefaultStreamCheck
	}
	sc := &s.streamCreds
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		sc.mu.Lock()
		if len(sc.byCred) == 0 {
			sc.checking = false
			sc.mu.Unlock()
			return
		}
		users := make([]User, 0, len(sc.byCred))
		for _, cs := range sc.byCred {
			users = append(users, cs.user)
		}
		sc.mu.Unlock()
		for _, u := range users {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := s.Auth.Recheck(ctx, u)
			cancel()
			if err == nil {
				continue
			}
			if gaffer.ErrorCode(err) != gaffer.EUNAUTHORIZED {
				// The store is down: not a reason to cut viewers off.
				s.Logger.Warn("log streams: could not check a credential again", "user", u.Name, "err", err)
				continue
			}
			sc.mu.Lock()
			if cs := sc.byCred[u.cred]; cs != nil {
				endAll(cs)
				delete(sc.byCred, u.cred)
			}
			sc.mu.Unlock()
			s.Logger.Info("log streams ended: their credential was revoked or expired", "user", u.Name)
		}
	}
}
