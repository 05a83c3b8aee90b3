package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// receiver is a test webhook: it records every POST and answers with what
// answer says for the n-th one (1-based).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	answer func(n int, w http.ResponseWriter) // nil: 200

	mu      sync.Mutex
	posts   [][]gaffer.Alert
	headers []http.Header
	times   []time.Time
	calls   int
	got     chan struct{}
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) *receiver {
	t.Helper()
	r := &receiver{t: t, answer: answer, got: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls++
		n := r.calls
		r.times = append(r.times, time.Now())
		r.headers = append(r.headers, req.Header.Clone())
		r.mu.Unlock()
		if r.answer != nil {
			rec := httptest.NewRecorder()
			r.answer(n, rec)
			if rec.Code >= 300 || rec.Code < 200 {
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				r.got <- struct{}{}
				return
			}
		}
		var batch []gaffer.Alert
		if err := json.Unmarshal(body, &batch); err != nil {
			t.Errorf("POST body is not a JSON array of alerts: %v: %q", err, body)
		}
		r.mu.Lock()
		r.posts = append(r.posts, batch)
		r.mu.Unlock()
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// delivered returns the seqs received so far, in order.
func (r *receiver) delivered() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, b := range r.posts {
		for _, a := range b {
			out = append(out, a.Seq)
		}
	}
	return out
}

func alerts(from, n int) []gaffer.Alert {
	var out []gaffer.Alert
	for i := from; i < from+n; i++ {
		out = append(out, gaffer.Alert{Job: 7, Host: "web-1", File: "/var/log/app.log", Seq: int64(i),
			TS: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Text: fmt.Sprintf("ERROR %d", i)})
	}
	return out
}

// fast are options for tests: no linger or rate limit worth waiting for.
func fast() Options {
	return Options{Linger: time.Millisecond, Interval: time.Millisecond, MinBackoff: time.Millisecond,
		MaxBackoff: 10 * time.Millisecond, CloseWait: 5 * time.Second}
}

// waitFor polls cond for up to a minute (the machine is slow and shared).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seqs(from, to int) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, int64(i))
	}
	return out
}

func equal(a, b []int64) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestBatches(t *testing.T) {
	r := newReceiver(t, nil)
	opt := fast()
	opt.Linger = time.Hour // batches leave full, or at Close
	s := New(r.srv.URL+"/hook?token=x", opt)
	s.Send(alerts(1, 250))
	waitFor(t, "two full batches", func() bool { return len(r.delivered()) >= 200 })
	s.Close()
	if got := r.delivered(); !equal(got, seqs(1, 250)) {
		t.Fatalf("delivered %v, want 1..250 once each in order", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, b := range r.posts {
		if len(b) > DefaultBatchSize {
			t.Errorf("POST %d holds %d alerts; the batch limit is %d", i, len(b), DefaultBatchSize)
		}
	}
	if len(r.posts) != 3 {
		t.Errorf("%d POSTs, want 3 (100, 100, then 50 at Close)", len(r.posts))
	}
	h := r.headers[0]
	if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "gaffer" {
		t.Errorf("headers %v, want Content-Type application/json and User-Agent gaffer", h)
	}
	if a := r.posts[0][0]; a.Job != 7 || a.Host != "web-1" || a.File != "/var/log/app.log" || a.Text != "ERROR 1" {
		t.Errorf("first alert %+v", a)
	}
	st := s.State()
	if st.Sent != 250 || st.Pending != 0 || st.Dropped != 0 || st.Failures != 0 || st.FailingSince != nil {
		t.Errorf("state %+v, want 250 sent and nothing else", st)
	}
	if st.Webhook != r.srv.URL+"/…" {
		t.Errorf("state shows the webhook as %q, want it redacted", st.Webhook)
	}
}

func TestBatchBytes(t *testing.T) {
	r := newReceiver(t, nil)
	opt := fast()
	opt.BatchBytes = 3000
	s := New(r.srv.URL, opt)
	big := alerts(1, 10)
	for i := range big {
		big[i].Text = strings.Repeat("x", 1000)
	}
	s.Send(big)
	waitFor(t, "all delivered", func() bool { return len(r.delivered()) == 10 })
	s.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, b := range r.posts {
		if len(b) > 3 {
			t.Errorf("POST %d holds %d alerts of 1000 bytes; the limit is 3000 bytes", i, len(b))
		}
	}
}

func TestRetriesUntilDelivered(t *testing.T) {
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusRequestTimeout, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			release := make(chan struct{})
			r := newReceiver(t, func(n int, w http.ResponseWriter) {
				select {
				case <-release:
				default:
					w.WriteHeader(code)
				}
			})
			s := New(r.srv.URL, fast())
			defer s.Close()
			s.Send(alerts(1, 5))
			waitFor(t, "three failed POSTs", func() bool { return s.State().Failures >= 3 })
			st := s.State()
			want := fmt.Sprintf("%d %s; retrying", code, http.StatusText(code))
			if st.FailingSince == nil || st.LastError != want || st.Pending != 5 || st.Sent != 0 {
				t.Fatalf("state while failing %+v, want failing with %q and 5 pending", st, want)
			}
			close(release)
			waitFor(t, "delivery", func() bool { return s.State().Sent == 5 })
			st = s.State()
			if st.FailingSince != nil || st.LastError != "" || st.Pending != 0 || st.Dropped != 0 {
				t.Errorf("state after recovering %+v", st)
			}
			if got := r.delivered(); !equal(got, seqs(1, 5)) {
				t.Errorf("delivered %v, want 1..5 once", got)
			}
		})
	}
}

func TestBackoffGrows(t *testing.T) {
	r := newReceiver(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) })
	opt := fast()
	opt.MinBackoff, opt.MaxBackoff = 40*time.Millisecond, 160*time.Millisecond
	s := New(r.srv.URL, opt)
	defer s.Close()
	s.Send(alerts(1, 1))
	waitFor(t, "five POSTs", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls >= 5 })
	r.mu.Lock()
	defer r.mu.Unlock()
	// Lower bounds only: the jittered wait is at least half the backoff.
	for i, min := range []time.Duration{20, 40, 80, 80} {
		if gap := r.times[i+1].Sub(r.times[i]); gap < min*time.Millisecond {
			t.Errorf("retry %d came %v after the failure; the backoff is at least %v", i+1, gap, min*time.Millisecond)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	for attempt := range 40 {
		d := backoff(time.Second, time.Minute, attempt)
		hi := min(time.Second<<min(attempt, 20), time.Minute)
		if d < hi/2 || d > hi {
			t.Errorf("attempt %d: backoff %v, want within [%v, %v]", attempt, d, hi/2, hi)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	r := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	s := New(r.srv.URL, fast()) // backoff alone would retry within 10 ms
	defer s.Close()
	s.Send(alerts(1, 3))
	waitFor(t, "delivery", func() bool { return s.State().Sent == 3 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if gap := r.times[1].Sub(r.times[0]); gap < time.Second {
		t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"99999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		if got := retryAfter(c.in, now); got != c.want {
			t.Errorf("retryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "5", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryAfter(v, now); d < 0 {
			t.Fatalf("retryAfter(%q) = %v < 0", v, d)
		}
	})
}

func TestRefusedNotRetried(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusForbidden, http.StatusGone} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			r := newReceiver(t, func(n int, w http.ResponseWriter) {
				if n == 1 {
					w.WriteHeader(code)
				}
			})
			s := New(r.srv.URL, fast())
			defer s.Close()
			s.Send(alerts(1, 4))
			waitFor(t, "the refusal", func() bool { return s.State().Dropped == 4 })
			st := s.State()
			want := fmt.Sprintf("%d %s; not retried, alerts dropped", code, http.StatusText(code))
			if st.LastError != want || st.FailingSince == nil || st.Failures != 1 || st.Pending != 0 {
				t.Errorf("state %+v, want %q", st, want)
			}
			// The next alerts are tried: the webhook may have been fixed.
			s.Send(alerts(5, 1))
			waitFor(t, "the next alert", func() bool { return s.State().Sent == 1 })
			if st := s.State(); st.FailingSince != nil || st.LastError != "" {
				t.Errorf("state after a success %+v", st)
			}
			r.mu.Lock()
			calls := r.calls
			r.mu.Unlock()
			if calls != 2 {
				t.Errorf("%d POSTs, want 2: the refused batch is not retried", calls)
			}
		})
	}
}

func TestNoRedirects(t *testing.T) {
	elsewhere := newReceiver(t, nil)
	r := newReceiver(t, func(n int, w http.ResponseWriter) {
		w.Header().Set("Location", elsewhere.srv.URL+"/x")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	s := New(r.srv.URL, fast())
	s.Send(alerts(1, 2))
	waitFor(t, "the refusal", func() bool { return s.State().Dropped == 2 })
	s.Close()
	if st := s.State(); st.LastError != "307 Temporary Redirect (redirects are not followed); not retried, alerts dropped" {
		t.Errorf("state %+v", st)
	}
	elsewhere.mu.Lock()
	defer elsewhere.mu.Unlock()
	if elsewhere.calls != 0 {
		t.Errorf("the redirect was followed")
	}
}

// hanging is a webhook that never answers until the test ends.
func hanging(t *testing.T) (*httptest.Server, *int64) {
	t.Helper()
	stop := make(chan struct{})
	var mu sync.Mutex
	var n int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv, &n
}

func TestSendNeverBlocks(t *testing.T) {
	srv, _ := hanging(t)
	opt := fast()
	opt.QueueSize = 1000
	s := New(srv.URL, opt)
	// The sink is stuck in its first POST: Send goes on regardless.
	for i := range 200 {
		s.Send(alerts(i*100+1, 100))
	}
	st := s.State()
	if st.Pending+st.Dropped+st.Sent != 20000 || st.Pending > int64(opt.QueueSize)+int64(DefaultBatchSize) {
		t.Errorf("state %+v: every alert is pending, dropped or sent; pending is bounded by the queue", st)
	}
	s.Close() // within CloseWait: the hanging POST is abandoned
	st = s.State()
	if st.Pending != 0 || st.Dropped != 20000 {
		t.Errorf("state after Close %+v, want all 20000 dropped", st)
	}
}

func TestQueueOverflowDropsOldest(t *testing.T) {
	release := make(chan struct{})
	r := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			<-release // the first batch waits
		}
	})
	opt := fast()
	opt.QueueSize = 10
	s := New(r.srv.URL, opt)
	defer s.Close()
	s.Send(alerts(1, 1))
	waitFor(t, "the first POST", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.calls == 1 })
	s.Send(alerts(2, 25)) // 2..26: room for 10
	if st := s.State(); st.Dropped != 15 || st.Pending != 11 {
		t.Fatalf("state %+v, want 15 dropped and 11 pending", st)
	}
	close(release)
	waitFor(t, "the rest", func() bool { return len(r.delivered()) == 11 })
	if got, want := r.delivered(), append([]int64{1}, seqs(17, 26)...); !equal(got, want) {
		t.Errorf("delivered %v, want %v: the oldest queued are dropped", got, want)
	}
}

func TestQueueBytesBound(t *testing.T) {
	srv, _ := hanging(t)
	opt := fast()
	opt.QueueBytes = 10 << 10
	s := New(srv.URL, opt)
	defer s.Close()
	big := alerts(1, 100)
	for i := range big {
		big[i].Text = strings.Repeat("x", 1000)
	}
	s.Send(big)
	if st := s.State(); st.Pending > 11 || st.Dropped < 89 {
		t.Errorf("state %+v: 100 kB of alerts in a 10 KiB queue", st)
	}
}

func TestCloseDeliversQueued(t *testing.T) {
	r := newReceiver(t, nil)
	opt := fast()
	opt.Linger = time.Hour
	s := New(r.srv.URL, opt)
	s.Send(alerts(1, 30))
	s.Close()
	if got := r.delivered(); !equal(got, seqs(1, 30)) {
		t.Errorf("delivered %v by Close, want 1..30", got)
	}
	s.Send(alerts(31, 2))
	if st := s.State(); st.Sent != 30 || st.Dropped != 2 || st.Pending != 0 {
		t.Errorf("state %+v: alerts after Close are dropped", st)
	}
	s.Close() // twice is fine
}

func TestCloseGivesUpOnFailingWebhook(t *testing.T) {
	r := newReceiver(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	opt := fast()
	opt.MinBackoff, opt.MaxBackoff = time.Hour, time.Hour // stuck in a backoff wait
	s := New(r.srv.URL, opt)
	s.Send(alerts(1, 3))
	waitFor(t, "a failure", func() bool { return s.State().Failures == 1 })
	s.Close()
	st := s.State()
	if st.Pending != 0 || st.Dropped != 3 || st.Failures != 2 {
		t.Errorf("state %+v: one last try, then 3 dropped", st)
	}
}

func TestErrorsHideURL(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	slow, _ := hanging(t)
	for _, c := range []struct {
		name, url, want string
		opt             func(*Options)
	}{
		{"refused", "http://" + addr + "/secret-path?token=s3cret", "connection refused; retrying", nil},
		{"timeout", slow.URL + "/secret-path?token=s3cret", "no answer within 50ms; retrying", func(o *Options) { o.Timeout = 50 * time.Millisecond }},
		{"user", "http://user:s3cret@" + addr + "/secret-path", "connection refused; retrying", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			opt := fast()
			opt.MinBackoff, opt.MaxBackoff = time.Hour, time.Hour
			if c.opt != nil {
				c.opt(&opt)
			}
			s := New(c.url, opt)
			defer s.Close()
			s.Send(alerts(1, 1))
			waitFor(t, "a failure", func() bool { return s.State().Failures == 1 })
			st := s.State()
			if st.LastError != c.want {
				t.Errorf("last error %q, want %q", st.LastError, c.want)
			}
			b, _ := json.Marshal(st)
			if strings.Contains(string(b), "secret") || strings.Contains(string(b), "s3cret") {
				t.Errorf("state shows the URL's secret parts: %s", b)
			}
		})
	}
}
