package foreman

import "sync"

// groupSync lets callers that want what was written so far made durable
// share one sync: runs of a job that end together (200 hosts answering
// `uname -a` within the same second) wait for a sync started after they
// asked, not each for its own. A sync costs three fsyncs, milliseconds each;
// one per run, in turn, kept a 200-host job busy for seconds after its last
// host answered.
type groupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // syncs started so far
	done    uint64 // the last sync that ended
}

// wait returns once a call of do that started after wait was called has
// ended. Only one do runs at a time; those who asked meanwhile share the
// next one.
func (g *groupSync) wait(do func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	// A sync under way may have started before our writes: the next one
	// is ours.
	want := g.started + 1
	for g.done < want {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		n := g.started
		g.mu.Unlock()
		do()
		g.mu.Lock()
		g.running = false
		g.done = n
		g.cond.Broadcast()
	}
}
