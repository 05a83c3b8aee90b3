package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gaffer-dev/gaffer"
)

// A tail is this instance's copy of the newest part of one job's live log,
// kept while anyone on this instance reads or waits on the job. One
// goroutine per tail blocks in XREAD and decodes each new entry once; every
// local Read at or near the end is answered from memory and every local
// Wait wakes on the tail's broadcast, so the Redis commands for a job do not
// grow with its viewers. A Read behind the tail (a viewer catching up) or
// ahead of it (it read Redis directly a moment ago) goes to Redis as before.
//
// The tail may lag Redis by the time one XREAD answer takes to arrive,
// never lead it: a Read at its end on another instance than the writer's
// may answer "nothing yet" for records appended a moment ago, and a Wait
// then wakes as soon as they arrive. On the writer's instance, Append and
// Close update the tail before they return, so a Read there sees them.
//
// The tail is bounded like the stream (Options.TailBytes, at most
// MaxBytesPerJob, and MaxEntriesPerJob, counted the same way), so it never
// holds a record Redis has already trimmed.
type tail struct {
	jobID int64
	// users and idle are guarded by LiveLog.mu.
	users int       // Reads and Waits in progress
	idle  time.Time // when users last dropped to 0

	mu     sync.RWMutex // read-locked by the many viewers' Reads and Waits
	ready  bool         // the state below was read from Redis
	gone   bool         // Redis has no such job
	err    error        // the last Redis command failed
	closed bool
	// The tail holds seqs first..last (none when first == last+1), in
	// entries as Redis stores them.
	first, last int64
	entries     []tailEntry
	bytes       int64       // encoded size of entries, as the append script counts
	pending     []tailEntry // local appends before the first state arrived
	// changed is closed and replaced whenever the state changes, so any
	// number of waiters wake at once.
	changed chan struct{}
}

// tailEntry is one stream entry, decoded, or the end marker.
type tailEntry struct {
	first, last int64
	recs        []gaffer.Record
	bytes       int64
	end         bool
}

func (t *tail) broadcast() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// start sets the state read from Redis's meta when the tail had none: an
// empty tail at the log's end, then what local appends added meanwhile.
func (t *tail) start(last int64, closed bool, maxBytes, maxEntries int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ready {
		t.ready = true
		t.reset(last + 1)
		t.closed = closed
		for _, e := range t.pending {
			t.add(e, maxBytes, maxEntries)
		}
		t.pending = nil
	} else if t.err == nil {
		return
	}
	t.err = nil
	t.broadcast()
}

// push adds entries (in stream order), once the tail has a state; before,
// they wait for it.
func (t *tail) push(es []tailEntry, maxBytes, maxEntries int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ready {
		t.pending = append(t.pending, es...)
		return
	}
	changed := false
	for _, e := range es {
		changed = t.add(e, maxBytes, maxEntries) || changed
	}
	if changed || t.err != nil {
		t.err = nil
		t.broadcast()
	}
}

// add appends one entry; t.mu is held. An entry that does not follow the
// last one starts the tail again from it (the writer skipped records, or
// Redis lost the job and the writer started again): reads of what came
// before go to Redis, which answers ETRIMMED. An entry already held is
// ignored (it came by XREAD and by a local Append).
func (t *tail) add(e tailEntry, maxBytes, maxEntries int64) bool {
	if e.end {
		if t.closed {
			return false
		}
		if e.last > t.last {
			t.reset(e.last + 1)
		}
		t.closed = true
		return true
	}
	if e.last <= t.last || t.closed {
		return false
	}
	if e.first != t.last+1 {
		t.reset(e.first)
	}
	t.entries = append(t.entries, e)
	t.bytes += e.bytes
	t.last = e.last
	drop := 0
	for n := len(t.entries); n-drop > 1 && (t.bytes > maxBytes || int64(n-drop) > maxEntries); drop++ {
		t.bytes -= t.entries[drop].bytes
	}
	if drop > 0 {
		clear(t.entries[:drop]) // let the records go
		t.entries = t.entries[drop:]
	}
	t.first = t.entries[0].first
	return true
}

func (t *tail) reset(first int64) {
	clear(t.entries)
	t.entries = t.entries[:0]
	t.bytes = 0
	t.first, t.last = first, first-1
}

func (t *tail) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ready || t.err == nil {
		t.ready, t.err = true, err
		t.broadcast()
	}
}

func (t *tail) setGone() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ready, t.gone = true, true
	t.broadcast()
}

// awaitReady waits for the tail's first state.
func (t *tail) awaitReady(ctx context.Context) error {
	for {
		t.mu.RLock()
		ready, ch := t.ready, t.changed
		t.mu.RUnlock()
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// read answers a Read from the tail: up to limit records after `after`
// (bounded by gaffer.MaxReadBytes) and whether the log ends with them.
// ok is false if the tail cannot answer (not held, Redis failing): ask
// Redis.
func (t *tail) read(after int64, limit int) (recs []gaffer.Record, end, gone, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	switch {
	case !t.ready || t.err != nil:
		return nil, false, false, false
	case t.gone:
		return nil, false, true, true
	case after < t.first-1 || after > t.last:
		return nil, false, false, false
	case after == t.last:
		return nil, t.closed, false, true
	}
	i := sort.Search(len(t.entries), func(i int) bool { return t.entries[i].last > after })
	recs = make([]gaffer.Record, 0, min(int64(limit), t.last-after, 256))
	size := 0
	for ; i < len(t.entries) && len(recs) < limit && size < gaffer.MaxReadBytes; i++ {
		e := &t.entries[i]
		for j := max(after+1, e.first) - e.first; j < int64(len(e.recs)) && len(recs) < limit && size < gaffer.MaxReadBytes; j++ {
			recs = append(recs, e.recs[j])
			size += e.recs[j].Size()
		}
	}
	return recs, t.closed && recs[len(recs)-1].Seq == t.last, false, true
}

// state is what Wait looks at.
func (t *tail) state() (ready bool, last int64, closed, gone bool, err error, changed chan struct{}) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ready, t.last, t.closed, t.gone, t.err, t.changed
}

// tailRead is how many entries one XREAD of a tail returns at most.
const tailRead = 64

// follow is a tail's goroutine: it reads the job's meta for a starting
// point, then blocks in XREAD for entries after the tail's last, decodes
// them and adds them, and again. After a BlockTime without news it reads
// the meta again (was the job deleted or lost?). It stops when the job is
// gone, or nobody has used the tail for a BlockTime; a closed job's tail
// costs Redis nothing more until then.
//
// go-redis cannot interrupt XREAD BLOCK, so waiters never sit in it: they
// wait on the broadcast channel and leave at once when their ctx is done.
func (l *LiveLog) follow(t *tail) {
	defer l.wg.Done()
	ctx := context.Background()
	k := l.keys(t.jobID)
	const minRetry = 50 * time.Millisecond
	retry := minRetry
	synced := false // the tail's state agrees with the meta (or came after it)
	for l.keep(t) {
		var err error
		switch {
		case !synced:
			var m []any
			m, err = l.watch.HMGet(ctx, k.meta, "last", "closed").Result()
			if err != nil {
				break
			} else if m[0] == nil {
				t.setGone()
				l.drop(t)
				return
			}
			var last int64
			if last, err = parseInt(m[0]); err == nil {
				t.start(last, m[1] == "1", l.tailBytes, l.maxEntries)
				synced = true
			}
		case t.isClosed():
			// Nothing more will come: only wait to be dropped.
			tm := time.NewTimer(l.block)
			select {
			case <-tm.C:
			case <-l.done:
				tm.Stop()
				return
			}
			continue
		default:
			// Entry IDs are last seqs: this returns as soon as anything
			// after the tail's last is added, the end marker included.
			var streams []goredis.XStream
			streams, err = l.watch.XRead(ctx, &goredis.XReadArgs{
				Streams: []string{k.log, entryID(t.lastSeq())},
				Count:   tailRead,
				Block:   l.block,
			}).Result()
			switch {
			case errors.Is(err, goredis.Nil):
				err, synced = nil, false // quiet: check the job is still there
			case err == nil:
				var es []tailEntry
				if es, err = tailEntries(streams); err == nil {
					t.push(es, l.tailBytes, l.maxEntries)
				}
			}
		}
		if err == nil {
			retry = minRetry
			continue
		}
		// Redis unreachable: readers go to Redis (and fail, and read the
		// archive); back off, then read the meta again.
		t.fail(fmt.Errorf("follow live log of job %d in Redis: %w", t.jobID, err))
		synced = false
		tm := time.NewTimer(retry)
		select {
		case <-tm.C:
		case <-l.done:
			tm.Stop()
			return
		}
		retry = min(2*retry, l.block)
	}
}

func (t *tail) isClosed() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.closed
}

func (t *tail) lastSeq() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.last
}

// tailEntries decodes XREAD's answer.
func tailEntries(streams []goredis.XStream) ([]tailEntry, error) {
	var es []tailEntry
	for _, s := range streams {
		for _, msg := range s.Messages {
			id, sub, _ := strings.Cut(msg.ID, "-")
			last, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("entry %s: %w", msg.ID, err)
			}
			blob, ok := msg.Values["r"].(string)
			if !ok {
				if sub == "1" {
					es = append(es, tailEntry{first: last, last: last, end: true})
				}
				continue
			}
			e, err := decodeTailEntry([]byte(blob))
			if err != nil || e.last != last {
				return nil, fmt.Errorf("entry %s: %w", msg.ID, errCorrupt)
			}
			es = append(es, e)
		}
	}
	return es, nil
}

func decodeTailEntry(blob []byte) (tailEntry, error) {
	recs, err := decodeEntry(nil, blob, 0, math.MaxInt)
	if err != nil || len(recs) == 0 {
		return tailEntry{}, errCorrupt
	}
	return tailEntry{first: recs[0].Seq, last: recs[len(recs)-1].Seq, recs: recs, bytes: int64(len(blob))}, nil
}

// join registers a user (a Read or a Wait) of the job's tail, starting it
// if there is none.
func (l *LiveLog) join(jobID int64) (*tail, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shut {
		return nil, errShutdown
	}
	t := l.tails[jobID]
	if t == nil {
		t = &tail{jobID: jobID, changed: make(chan struct{})}
		l.tails[jobID] = t
		l.wg.Add(1)
		go l.follow(t)
	}
	t.users++
	return t, nil
}

func (l *LiveLog) leave(t *tail) {
	l.mu.Lock()
	if t.users--; t.users == 0 {
		t.idle = time.Now()
	}
	l.mu.Unlock()
}

// keep reports whether t's goroutine should go on: the tail is still the
// job's and was used within the last BlockTime. Otherwise it is dropped.
func (l *LiveLog) keep(t *tail) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tails[t.jobID] != t {
		return false // deleted or shut down
	}
	if t.users == 0 && time.Since(t.idle) >= l.block {
		delete(l.tails, t.jobID)
		return false
	}
	return true
}

func (l *LiveLog) drop(t *tail) {
	l.mu.Lock()
	if l.tails[t.jobID] == t {
		delete(l.tails, t.jobID)
	}
	l.mu.Unlock()
}

// pushLocal hands what this instance just appended (or the end marker) to
// the job's tail here, if there is one, so that local reads see it at once.
func (l *LiveLog) pushLocal(jobID int64, es func() []tailEntry) {
	l.mu.Lock()
	t := l.tails[jobID]
	l.mu.Unlock()
	if t != nil {
		t.push(es(), l.tailBytes, l.maxEntries)
	}
}
