package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer/web"
)

// attempt sends a credential from addr: a Bearer token to the API, or a
// token to the login link or the login form.
func attempt(h http.Handler, how, addr, tok string) *httptest.ResponseRecorder {
	var req *http.Request
	switch how {
	case "bearer":
		req = httptest.NewRequest("GET", "/api/jobs", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
	case "link":
		req = httptest.NewRequest("GET", "/login?token="+tok, nil)
	case "form":
		req = httptest.NewRequest("POST", "/login", strings.NewReader("token="+tok))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Guessing tokens is slowed to 10 a minute per address: the 11th bad
// attempt in a row is answered 429, whatever it tries.
func TestFailedAttemptsAreLimited(t *testing.T) {
	for _, how := range []string{"bearer", "link", "form"} {
		t.Run(how, func(t *testing.T) {
			s := newServer(t)
			for i := 1; i <= 10; i++ {
				if rec := attempt(s, how, "198.51.100.7:4000", "guess"); rec.Code != http.StatusUnauthorized {
					t.Fatalf("bad attempt %d: %d, want 401", i, rec.Code)
				}
			}
			rec := attempt(s, how, "198.51.100.7:4001", "guess")
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("11th bad attempt: %d, want 429", rec.Code)
			}
		})
	}
}

// clock is a settable time for the limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func limitedServer(t *testing.T) (*web.Server, *clock) {
	t.Helper()
	s := newServer(t)
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.Limiter = web.NewLimiter(10, time.Minute)
	s.Limiter.Now = c.now
	return s, c
}

// While an address is limited it is refused even with the right token (so
// a right guess is not told apart); other addresses, logged-in browsers
// and successful logins are not affected; a bucket refills with time.
func TestLimitedAddress(t *testing.T) {
	s, c := limitedServer(t)
	const attacker = "203.0.113.9:5555"
	cookie := sessionCookie(t, s)
	for i := 0; i < 20; i++ { // successes cost nothing
		if rec := attempt(s, "bearer", attacker, token); rec.Code != 200 {
			t.Fatalf("good token %d: %d", i, rec.Code)
		}
	}
	for i := 0; i < 10; i++ {
		attempt(s, "bearer", attacker, "guess")
	}
	rec := attempt(s, "bearer", attacker, "guess")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "6" {
		t.Fatalf("11th bad attempt: %d, Retry-After %q, want 429 and 6 (one attempt per 6 s)", rec.Code, rec.Header().Get("Retry-After"))
	}
	if code, msg := jsonError(t, rec); code != "too_many_requests" || !strings.Contains(msg, "try again in 6 s") {
		t.Fatalf("429 body: %q %q", code, msg)
	}
	for _, how := range []string{"bearer", "link", "form"} {
		if rec := attempt(s, how, attacker, token); rec.Code != http.StatusTooManyRequests {
			t.Errorf("right token by %s from the limited address: %d, want 429", how, rec.Code)
		}
		if rec := attempt(s, how, "192.0.2.44:80", token); rec.Code == http.StatusTooManyRequests || rec.Code == http.StatusUnauthorized {
			t.Errorf("right token by %s from another address: %d", how, rec.Code)
		}
	}
	req := httptest.NewRequest("GET", "/api/jobs", nil)
	req.RemoteAddr = attacker
	req.AddCookie(cookie)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("session cookie from the limited address: %d", rec.Code)
	}
	// One attempt back every 6 s: after 5 s still refused, after 6 s one more.
	c.t = c.t.Add(5 * time.Second)
	if rec := attempt(s, "bearer", attacker, "guess"); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("after 5 s: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	c.t = c.t.Add(time.Second)
	if rec := attempt(s, "bearer", attacker, "guess"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("after 6 s: %d, want 401", rec.Code)
	}
	if rec := attempt(s, "bearer", attacker, token); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("right after: %d, want 429", rec.Code)
	}
	c.t = c.t.Add(time.Minute)
	if rec := attempt(s, "bearer", attacker, token); rec.Code != 200 {
		t.Fatalf("a minute later: %d", rec.Code)
	}
	st := s.Limiter.Stats()
	if st.Failed != 11 || st.Refused != 6 {
		t.Errorf("stats %+v", st)
	}
}

// IPv6 addresses count per /64: one host can change its last 64 bits freely.
func TestLimitIPv6Prefix(t *testing.T) {
	s, _ := limitedServer(t)
	for i := 0; i < 10; i++ {
		attempt(s, "bearer", fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "guess")
	}
	if rec := attempt(s, "bearer", "[2001:db8:1:2:ffff::1]:443", "guess"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d, want 429", rec.Code)
	}
	if rec := attempt(s, "bearer", "[2001:db8:1:3::1]:443", token); rec.Code != 200 {
		t.Fatalf("next /64: %d", rec.Code)
	}
}

// The limiter remembers at most MaxAddrs addresses, however many guess.
func TestLimiterMemoryBounded(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	l := web.NewLimiter(10, time.Minute)
	l.Now = c.now
	l.MaxAddrs = 1000
	for i := 0; i < 100000; i++ {
		l.Fail(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255))
		if i%1000 == 0 {
			c.t = c.t.Add(time.Second)
		}
	}
	if n := l.Stats().Addrs; n > 1000 {
		t.Fatalf("%d addresses remembered, want at most 1000", n)
	}
	// When the others are full again, an address still limited is kept
	// and the full ones are forgotten first.
	c.t = c.t.Add(time.Hour)
	for i := 0; i < 10; i++ {
		l.Fail("198.51.100.1:1")
	}
	c.t = c.t.Add(time.Second)
	for i := 0; i < 2000; i++ {
		l.Fail(fmt.Sprintf("10.200.%d.%d:1", i>>8, i&255))
	}
	if l.Wait("198.51.100.1:1") <= 0 {
		t.Fatal("the limited address was forgotten")
	}
	if n := l.Stats().Addrs; n > 1000 {
		t.Fatalf("%d addresses remembered, want at most 1000", n)
	}
}
