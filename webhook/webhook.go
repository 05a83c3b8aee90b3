// Package webhook delivers a job's alerts to one webhook URL
// (gaffer.AlertSink): JSON-array POSTs, batched, rate-limited, retried with
// backoff, from a bounded queue that Send never waits on.
package webhook

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Options tune a Sink; zero values take the defaults below.
type Options struct {
	// QueueSize and QueueBytes bound what waits to be delivered (the
	// alerts' text counted); past either the oldest alerts are dropped.
	QueueSize  int
	QueueBytes int
	// BatchSize and BatchBytes bound one POST; Linger is how long a batch
	// that is not full waits for more.
	BatchSize  int
	BatchBytes int
	Linger     time.Duration
	// Interval is the least time between two POSTs (the rate limit).
	Interval time.Duration
	// MinBackoff doubles after each failed POST up to MaxBackoff (with
	// jitter); a Retry-After is honoured up to MaxRetryAfter.
	MinBackoff, MaxBackoff, MaxRetryAfter time.Duration
	// Timeout bounds one POST; CloseWait bounds Close's last try.
	Timeout, CloseWait time.Duration
	// Client sends the POSTs; nil: one shared client that follows no
	// redirect.
	Client *http.Client
}

// Defaults of Options.
const (
	DefaultQueueSize     = 10000
	DefaultQueueBytes    = 16 << 20
	DefaultBatchSize     = 100
	DefaultBatchBytes    = 1 << 20
	DefaultLinger        = 100 * time.Millisecond
	DefaultInterval      = 200 * time.Millisecond // at most 5 POSTs a second
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = time.Minute
	DefaultMaxRetryAfter = 5 * time.Minute
	DefaultTimeout       = 10 * time.Second
	DefaultCloseWait     = 2 * time.Second
)

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.QueueSize, DefaultQueueSize)
	def(&o.QueueBytes, DefaultQueueBytes)
	def(&o.BatchSize, DefaultBatchSize)
	def(&o.BatchBytes, DefaultBatchBytes)
	defd(&o.Linger, DefaultLinger)
	defd(&o.Interval, DefaultInterval)
	defd(&o.MinBackoff, DefaultMinBackoff)
	defd(&o.MaxBackoff, DefaultMaxBackoff)
	defd(&o.MaxRetryAfter, DefaultMaxRetryAfter)
	defd(&o.Timeout, DefaultTimeout)
	defd(&o.CloseWait, DefaultCloseWait)
	if o.Client == nil {
		o.Client = sharedClient
	}
}

// sharedClient keeps one connection pool for every webhook of the server.
// It follows no redirect: a webhook that moved is a failure to see, and
// the alerts never go to a host the operator did not name.
var sharedClient = &http.Client{
	Transport: http.DefaultTransport.(*http.Transport).Clone(),
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Sink delivers alerts to one URL from one goroutine.
type Sink struct {
	url   string
	shown string // RedactURL(url)
	opt   Options
	wake  chan struct{} // something was queued (buffered 1)

	mu       sync.Mutex
	queue    []gaffer.Alert // oldest first, not yet in a POST
	qbytes   int
	inflight []gaffer.Alert // the batch being POSTed or retried
	closed   bool
	st       gaffer.WebhookState

	closing chan struct{} // closed by Close
	done    chan struct{} // closed when the goroutine ends
	ctx     context.Context
	cancel  context.CancelFunc
	once    sync.Once
}

var _ gaffer.AlertSink = (*Sink)(nil)

// New starts delivering to url (an absolute http(s) URL, as
// gaffer.AlertRule.Validate checks).
func New(url string, opt Options) *Sink {
	opt.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{url: url, opt: opt, wake: make(chan struct{}, 1), closing: make(chan struct{}),
		done: make(chan struct{}), ctx: ctx, cancel: cancel}
	s.shown = gaffer.RedactURL(url)
	s.st.Webhook = s.shown
	go s.run()
	return s
}

// alertSize is what an alert adds to a POST's body, near enough.
func alertSize(a *gaffer.Alert) int { return len(a.Text) + len(a.Host) + len(a.File) + 100 }

// Send queues alerts; it never waits. Past the queue's bounds the oldest
// are dropped (counted in Dropped); after Close everything is.
func (s *Sink) Send(alerts []gaffer.Alert) {
	s.mu.Lock()
	if s.closed {
		s.st.Dropped += int64(len(alerts))
		s.mu.Unlock()
		return
	}
	for i := range alerts {
		s.queue = append(s.queue, alerts[i])
		s.qbytes += alertSize(&alerts[i])
	}
	n := 0
	for len(s.queue)-n > 0 && (len(s.queue)-n > s.opt.QueueSize || s.qbytes > s.opt.QueueBytes) {
		s.qbytes -= alertSize(&s.queue[n])
		n++
	}
	if n > 0 {
		clear(s.queue[:n]) // let the texts go
		s.queue = s.queue[n:]
		s.st.Dropped += int64(n)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// State reports the webhook's counters and whether it is failing.
func (s *Sink) State() gaffer.WebhookState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Pending = int64(len(s.queue) + len(s.inflight))
	if st.FailingSince != nil {
		t := *st.FailingSince
		st.FailingSince = &t
	}
	return st
}

// Close stops taking alerts and gives what is still queued one last try of
// at most CloseWait, without retries; what is left is counted as dropped.
// It returns once the sink's goroutine has ended.
func (s *Sink) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		t := time.AfterFunc(s.opt.CloseWait, s.cancel)
		<-s.done
		t.Stop()
		s.cancel()
	})
}

// run is the sink's goroutine: one batch at a time, each POSTed until it is
// delivered or refused, at most one POST per Interval.
func (s *Sink) run() {
	defer close(s.done)
	var last time.Time // when the last POST started
	for {
		if !s.waitQueued() {
			break
		}
		batch := s.take()
		attempt := 0
		for batch != nil {
			if !s.sleep(time.Until(last.Add(s.opt.Interval))) {
				break
			}
			last = time.Now()
			res := s.post(s.ctx, batch)
			if res.err == "" {
				s.delivered(batch)
				batch = nil
				break
			}
			s.failed(res.err, !res.retry)
			if !res.retry {
				s.refused(len(batch))
				batch = nil
				break
			}
			wait := res.retryAfter
			if wait <= 0 {
				wait = backoff(s.opt.MinBackoff, s.opt.MaxBackoff, attempt)
			}
			attempt++
			if !s.sleep(min(wait, s.opt.MaxRetryAfter)) {
				break
			}
		}
		if batch != nil { // closing mid-retry
			break
		}
	}
	s.lastTry()
}

// waitQueued waits until alerts are queued and the batch is full or has
// lingered; false once closing.
func (s *Sink) waitQueued() bool {
	for {
		s.mu.Lock()
		n := len(s.queue)
		s.mu.Unlock()
		if n > 0 {
			if n < s.opt.BatchSize {
				return s.sleep(s.opt.Linger)
			}
			return !s.closingNow()
		}
		select {
		case <-s.wake:
		case <-s.closing:
			return false
		}
	}
}

func (s *Sink) closingNow() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// sleep waits d; false if Close came first.
func (s *Sink) sleep(d time.Duration) bool {
	if d <= 0 {
		return !s.closingNow()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return false
	}
}

// take moves the next batch from the queue to inflight.
func (s *Sink) take() []gaffer.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.batchLen(s.queue)
	s.inflight = append(s.inflight[:0], s.queue[:n]...)
	for i := range n {
		s.qbytes -= alertSize(&s.queue[i])
	}
	clear(s.queue[:n])
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil // start afresh rather than grow a shifted slice
	}
	return s.inflight
}

// batchLen is how many of the first alerts make one POST (at least one).
func (s *Sink) batchLen(alerts []gaffer.Alert) int {
	n, size := 0, 0
	for n < len(alerts) && n < s.opt.BatchSize {
		size += alertSize(&alerts[n])
		if n > 0 && size > s.opt.BatchBytes {
			break
		}
		n++
	}
	return n
}

func (s *Sink) delivered(batch []gaffer.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Sent += int64(len(batch))
	s.st.FailingSince, s.st.LastError = nil, ""
	s.inflight = s.inflight[:0]
}

func (s *Sink) failed(why string, refused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Failures++
	if refused {
		why += "; not retried, alerts dropped"
	} else {
		why += "; retrying"
	}
	s.st.LastError = why
	if s.st.FailingSince == nil {
		now := time.Now().UTC()
		s.st.FailingSince = &now
	}
}

func (s *Sink) refused(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Dropped += int64(n)
	s.inflight = s.inflight[:0]
}

// lastTry POSTs what is left, in batches, once each and within CloseWait
// (the context is cancelled then); what is not delivered is dropped.
func (s *Sink) lastTry() {
	s.mu.Lock()
	all := append(append([]gaffer.Alert(nil), s.inflight...), s.queue...)
	s.queue, s.inflight, s.qbytes = nil, append(s.inflight[:0], all...), 0
	s.mu.Unlock()
	for len(all) > 0 && s.ctx.Err() == nil {
		n := s.batchLen(all)
		res := s.post(s.ctx, all[:n])
		if res.err != "" {
			s.failed(res.err, true)
			break
		}
		s.mu.Lock()
		s.st.Sent += int64(n)
		s.st.FailingSince, s.st.LastError = nil, ""
		s.inflight = s.inflight[n:]
		s.mu.Unlock()
		all = all[n:]
	}
	s.mu.Lock()
	s.st.Dropped += int64(len(s.inflight))
	s.inflight = nil
	s.mu.Unlock()
}

// backoff is MinBackoff doubled per failed attempt up to max, with jitter:
// a random point in its upper half, so webhooks failing together do not
// retry in step.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for range attempt {
		if d >= hi/2 {
			d = hi
			break
		}
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}
