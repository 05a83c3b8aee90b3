package foreman

import (
	"context"
	"sync"
	"time"
)

// DefaultLeaseTTL is how long an instance sharing the store may be silent
// before the others interrupt its running jobs. With the timings below a
// kill -9 shows as `interrupted` within LeaseTTL + LeaseTTL/8 (4.5 s) plus
// one store round trip, and at least LeaseTTL - LeaseTTL/4 (3 s) after it.
const DefaultLeaseTTL = 4 * time.Second

// The lease's timings, as fractions of LeaseTTL:
//
//   - A heartbeat every TTL/4, on connections of the store's own (see
//     postgres.DB). A new one starts on time even while an earlier one is
//     stuck (a hung connection, a lock wait), so one stalled round trip
//     costs nothing; each is bounded by a TTL.
//   - An instance stops its own jobs when a heartbeat fails and none was
//     taken for 3/4 TTL: the others may count it dead from TTL on. A
//     heartbeat that is merely slow (a loaded machine) stops nothing.
//   - Others sweep every TTL/8, and only while their own heartbeats go
//     through on time and have for (nearly) a whole TTL: after a stall of
//     the store or of the machine, which held everyone's heartbeats back,
//     nobody is judged on heartbeats that could not land.
const (
	beatsPerTTL = 4
	reapsPerTTL = 8
	fenceOfTTL  = 3.0 / 4
)

// lease is this instance's view of its own heartbeats.
type lease struct {
	mu sync.Mutex
	// ok is when the newest heartbeat the store took was sent: what the
	// store holds for this instance.
	ok time.Time
	// since starts the current run of heartbeats taken without a gap.
	since time.Time
}

// Watch keeps this instance's lease alive and acts for the others until ctx
// ends: it sends heartbeats (picking up cancels requested through other
// instances) and interrupts the jobs of instances that stopped sending them.
func (f *Foreman) Watch(ctx context.Context) {
	ttl := f.cfg.LeaseTTL
	now := time.Now()
	f.lease.mu.Lock()
	f.lease.ok, f.lease.since = now, now
	f.lease.mu.Unlock()
	beat := time.NewTicker(ttl / beatsPerTTL)
	defer beat.Stop()
	reap := time.NewTicker(ttl / reapsPerTTL)
	defer reap.Stop()
	var beats sync.WaitGroup
	defer beats.Wait()
	send := func() {
		beats.Add(1)
		go func() {
			defer beats.Done()
			f.heartbeat(ctx)
		}()
	}
	send()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			send()
		case <-reap.C:
			if f.cfg.Shared && f.leaseHealthy() {
				f.reap(ctx)
			}
		}
	}
}

// heartbeat tells the store this instance is alive, and cancels the jobs
// whose cancel was requested through other instances.
func (f *Foreman) heartbeat(ctx context.Context) {
	ttl := f.cfg.LeaseTTL
	sent := time.Now()
	hctx, cancel := context.WithTimeout(ctx, ttl)
	ids, err := f.cfg.Store.Heartbeat(hctx, f.cfg.Instance, sent.UTC())
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			f.log.Error("heartbeat", "err", err)
			f.fence()
		}
		return
	}
	f.lease.mu.Lock()
	if sent.After(f.lease.ok) {
		if sent.Sub(f.lease.ok) > 2*ttl/beatsPerTTL {
			f.lease.since = sent // a gap: the healthy run starts again
		}
		f.lease.ok = sent
	}
	f.lease.mu.Unlock()
	for _, id := range ids {
		if aj := f.activeJob(id); aj != nil {
			aj.cancel(errCanceled)
		}
	}
}

// fence stops this instance's jobs, after a failed heartbeat, once others
// may soon declare it dead: they are no longer its own, and would otherwise
// run on unseen.
func (f *Foreman) fence() {
	f.lease.mu.Lock()
	silent := time.Since(f.lease.ok)
	f.lease.mu.Unlock()
	if !f.cfg.Shared || silent < time.Duration(fenceOfTTL*float64(f.cfg.LeaseTTL)) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, aj := range f.active {
		f.log.Warn("lost the lease on the database; interrupting job", "job", id, "silent", silent.Round(time.Millisecond))
		aj.cancel(errLostLease)
	}
}

// leaseHealthy says whether this instance's own heartbeats have gone
// through for a whole TTL: only then does it judge others by theirs.
func (f *Foreman) leaseHealthy() bool {
	f.lease.mu.Lock()
	defer f.lease.mu.Unlock()
	ttl := f.cfg.LeaseTTL
	return time.Since(f.lease.ok) <= 2*ttl/beatsPerTTL && f.lease.ok.Sub(f.lease.since) >= ttl-ttl/beatsPerTTL
}

// reap interrupts the jobs of instances whose heartbeats stopped.
func (f *Foreman) reap(ctx context.Context) {
	reason := "the server instance running it stopped responding before the run ended"
	ids, err := f.cfg.Store.InterruptStale(ctx, time.Now().UTC().Add(-f.cfg.LeaseTTL), reason)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Error("interrupt jobs of silent instances", "err", err)
		}
		return
	}
	if len(ids) > 0 {
		f.log.Warn("interrupted jobs whose server instance stopped responding", "jobs", ids)
		f.closeOrphans(ctx, ids)
	}
}
