package web

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Limiter slows token guessing: failed attempts (bad Bearer tokens, bad
// tokens on the login link or form) are counted per remote address in a
// token bucket of Burst, refilled at Burst per Per (10 a minute: one
// attempt back every 6 s). While an address's
// bucket is empty, every attempt of it that presents a token is answered
// 429 before the token is checked, so a right guess is not told from a
// wrong one. Requests with a session cookie (a random id, not guessable) and
// without any credential are not counted nor refused. Successes cost nothing.
//
// IPv6 addresses count per /64, the least a single host is usually given.
// Behind a reverse proxy every request comes from the proxy's address: the
// limit is then shared by all clients (no X-Forwarded-For is trusted).
type Limiter struct {
	Burst    int
	Per      time.Duration
	MaxAddrs int              // addresses remembered at most; default 10000
	Now      func() time.Time // injectable clock for tests

	mu      sync.Mutex
	buckets map[netip.Prefix]*bucket
	refused atomic.Int64
	failed  atomic.Int64
}

// bucket is a token bucket kept as one time (the "generic cell rate
// algorithm"): full is when every token is back. Each failure pushes it one
// interval (Per/Burst) later; an attempt may be made while full is at most
// Per-interval ahead. Exact durations, no floating point.
type bucket struct{ full time.Time }

// NewLimiter returns a limiter of burst failures refilled at burst per per.
func NewLimiter(burst int, per time.Duration) *Limiter {
	return &Limiter{Burst: burst, Per: per}
}

// LimiterStats are the limiter's counters, for metrics.
type LimiterStats struct {
	Failed  int64 // failed attempts counted
	Refused int64 // attempts refused with 429
	Addrs   int   // addresses remembered now
}

// Stats returns the limiter's counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	return LimiterStats{Failed: l.failed.Load(), Refused: l.refused.Load(), Addrs: n}
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) interval() time.Duration { return l.Per / time.Duration(l.Burst) }

// key is the address a request counts against.
func key(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{} // one shared bucket for what cannot be parsed
	}
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// Wait returns how long the address must wait before its next attempt,
// 0 when it may try now.
func (l *Limiter) Wait(remoteAddr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key(remoteAddr)]
	if b == nil {
		return 0
	}
	wait := b.full.Sub(l.now()) - (l.Per - l.interval())
	if wait <= 0 {
		return 0
	}
	l.refused.Add(1)
	return wait
}

// Fail counts a failed attempt of the address.
func (l *Limiter) Fail(remoteAddr string) {
	l.failed.Add(1)
	now := l.now()
	k := key(remoteAddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		if l.buckets == nil {
			l.buckets = map[netip.Prefix]*bucket{}
		}
		l.evict(now)
		b = &bucket{}
		l.buckets[k] = b
	}
	if b.full.Before(now) {
		b.full = now
	}
	b.full = b.full.Add(l.interval())
}

// evict keeps memory bounded: when MaxAddrs addresses are remembered, it
// forgets those whose bucket is full again (the same as never seen), and
// if that is not enough, those nearest full, down to three quarters of
// MaxAddrs (so the sort is paid once per MaxAddrs/4 new addresses). Holds l.mu.
func (l *Limiter) evict(now time.Time) {
	max := l.MaxAddrs
	if max <= 0 {
		max = 10000
	}
	if len(l.buckets) < max {
		return
	}
	for k, b := range l.buckets {
		if !b.full.After(now) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) <= max*3/4 {
		return
	}
	// Then those nearest full first: the most limited are kept longest.
	keys := make([]netip.Prefix, 0, len(l.buckets))
	for k := range l.buckets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b netip.Prefix) int { return l.buckets[a].full.Compare(l.buckets[b].full) })
	for _, k := range keys[:len(keys)-max*3/4] {
		delete(l.buckets, k)
	}
}

// limited answers 429 when the request's address must wait, and reports
// whether it did.
func (s *Server) limited(w http.ResponseWriter, r *http.Request) bool {
	if s.Limiter == nil {
		return false
	}
	wait := s.Limiter.Wait(r.RemoteAddr)
	if wait <= 0 {
		return false
	}
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.error(w, r, gaffer.Errorf(gaffer.ETOOMANY, "too many failed login or token attempts from your address; try again in %d s", secs))
	return true
}

// failed counts a failed attempt of the request's address.
func (s *Server) failed(r *http.Request) {
	if s.Limiter != nil {
		s.Limiter.Fail(r.RemoteAddr)
	}
}

// authenticate is Auth.Authenticate with failed Bearer attempts limited per
// address; when it returns false it has answered (401, 429, or 503 when the
// store cannot be read).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (User, bool) {
	bearer := r.Header.Get("Authorization") != ""
	if bearer && s.limited(w, r) {
		return User{}, false
	}
	u, err := s.Auth.Authenticate(r)
	if gaffer.ErrorCode(err) == gaffer.EUNAUTHORIZED {
		if bearer {
			s.failed(r)
		}
		s.unauthorized(w, r)
		return User{}, false
	} else if err != nil {
		s.error(w, r, err)
		return User{}, false
	}
	return u, true
}
