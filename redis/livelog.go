// Package redis implements gaffer.LiveLog on Redis Streams, so that several
// server instances can show the same running jobs live.
//
// Each job has three keys, all with a TTL refreshed on every Append so that
// they vanish if the server that writes them dies without cleaning up:
//
//	<prefix>job:<id>:meta  hash: first (oldest seq kept), last, closed,
//	                       bytes (appended, cumulative), trimmed (cumulative)
//	<prefix>job:<id>:log   stream: each entry holds a run of records
//	<prefix>job:<id>:idx   list: "<entry last seq> <cumulative bytes>" per
//	                       entry, oldest first, so trimming never has to
//	                       fetch the entries it drops
//
// An entry's stream ID is "<seq of its newest record>-0". Entries hold
// consecutive seqs, so the entries holding records after seq A are exactly
// those with IDs above "A-0": XRANGE "(A-0" serves Read and XREAD from
// "A-0" serves Wait, with no lookup. Close adds an end marker "<last>-1",
// which wakes blocked readers at once.
//
// Appends and trims happen in Lua scripts, so meta and stream always agree;
// Read fetches both in one MULTI.
//
// Trimming drops whole entries, oldest first, beyond MaxBytesPerJob or
// MaxEntriesPerJob; the writer put them in the archive before appending, so
// Read answers ETRIMMED for them and the server reads the archive.
//
// Each instance keeps a tail of every job someone reads or waits on there
// (tail.go): one goroutine per job blocks in XREAD, on a connection of its
// own, and serves all local viewers from memory, so neither Redis
// connections nor commands grow with viewers.
//
// If Redis loses a running job (FLUSHALL, restart without persistence or
// from an older snapshot, expiry after a silence longer than the TTL),
// readers get ENOTFOUND and read the archive. The instance that created the
// job knows its seqs, so its next Append or Close starts the live log again
// from that point (older seqs read as ETRIMMED) instead of failing for the
// rest of the job; an Append from any other instance gets ENOTFOUND. The
// same writer may skip seqs it could not append in time (Redis was slow):
// the log starts again from its next batch in the same way.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gaffer-dev/gaffer"
)

// Defaults for Options left zero.
const (
	DefaultPrefix           = "gaffer:"
	DefaultMaxBytesPerJob   = 8 << 20
	DefaultMaxEntriesPerJob = 10_000
	DefaultTTL              = 24 * time.Hour
	DefaultBlockTime        = 2 * time.Second
	DefaultWatchPoolSize    = 1000
	DefaultTailBytes        = 4 << 20
)

// DefaultReadLimit is the number of records Read returns when limit <= 0.
const DefaultReadLimit = 1000

// Ensure LiveLog implements the interface.
var _ gaffer.LiveLog = (*LiveLog)(nil)

// Options tune a LiveLog. The zero value gives the defaults.
type Options struct {
	// Prefix starts every key, so that several deployments can share a
	// Redis database.
	Prefix string
	// MaxBytesPerJob bounds the encoded record data kept per job; older
	// entries are trimmed (they are in the archive). The newest entry is
	// always kept.
	MaxBytesPerJob int64
	// MaxEntriesPerJob bounds the stream entries kept per job, for jobs
	// that append one line at a time.
	MaxEntriesPerJob int64
	// TTL is how long a job's keys live after its last Append or Close.
	TTL time.Duration
	// BlockTime is how long one XREAD blocks. A reader goroutine rechecks
	// the job (deleted? still watched?) this often.
	BlockTime time.Duration
	// ClientName names this LiveLog's connections in CLIENT LIST; the
	// blocking readers' connections add "-watch". Default
	// "gaffer-livelog-<random>".
	ClientName string
	// WatchPoolSize bounds the connections of blocking readers: one per
	// job being read or waited on by this instance.
	WatchPoolSize int
	// TailBytes bounds the encoded record data of the in-memory tail this
	// instance keeps of each job it serves (at most MaxBytesPerJob).
	TailBytes int64
}

// LiveLog is a gaffer.LiveLog on Redis. It is safe for concurrent use.
type LiveLog struct {
	client *goredis.Client
	// watch runs the blocking XREADs, apart from client so that they never
	// starve Appends and Reads of connections.
	watch *goredis.Client

	name       string
	prefix     string
	maxBytes   int64
	maxEntries int64
	ttl        time.Duration
	block      time.Duration
	tailBytes  int64

	wmu     sync.Mutex
	writers map[int64]*writer

	mu    sync.Mutex
	tails map[int64]*tail
	shut  bool
	done  chan struct{} // closed by Shutdown
	wg    sync.WaitGroup
}

// writer is what this instance knows of a job it created and still writes.
// It lets Append tell "Redis lost the job" (recreate it) from "no such job".
type writer struct {
	mu     sync.Mutex // held through Append, so a job's appends never race
	last   int64
	closed bool
}

var errShutdown = errors.New("redis live log is shut down")

// New connects to Redis at url ("redis://[:password@]host:port/db") and
// returns a LiveLog. It fails if Redis does not answer, or is older than
// 6.2 (needed for XTRIM MINID and exclusive XRANGE).
func New(ctx context.Context, url string, opts Options) (*LiveLog, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.MaxBytesPerJob <= 0 {
		opts.MaxBytesPerJob = DefaultMaxBytesPerJob
	}
	if opts.MaxEntriesPerJob <= 0 {
		opts.MaxEntriesPerJob = DefaultMaxEntriesPerJob
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.BlockTime < time.Millisecond {
		opts.BlockTime = DefaultBlockTime
	}
	if opts.TailBytes <= 0 {
		opts.TailBytes = DefaultTailBytes
	}
	if opts.WatchPoolSize <= 0 {
		opts.WatchPoolSize = DefaultWatchPoolSize
	}
	if opts.ClientName == "" {
		var b [4]byte
		rand.Read(b[:])
		opts.ClientName = "gaffer-livelog-" + hex.EncodeToString(b[:])
	}

	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("invalid Redis URL: %w", err)
	}
	o.ClientName = opts.ClientName
	o.ContextTimeoutEnabled = true
	wo, _ := goredis.ParseURL(url)
	wo.ClientName = opts.ClientName + "-watch"
	wo.PoolSize = opts.WatchPoolSize
	l := &LiveLog{
		client:     goredis.NewClient(o),
		watch:      goredis.NewClient(wo),
		name:       opts.ClientName,
		prefix:     opts.Prefix,
		maxBytes:   opts.MaxBytesPerJob,
		maxEntries: opts.MaxEntriesPerJob,
		ttl:        opts.TTL,
		block:      opts.BlockTime,
		tailBytes:  min(opts.TailBytes, opts.MaxBytesPerJob),
		writers:    make(map[int64]*writer),
		tails:      make(map[int64]*tail),
		done:       make(chan struct{}),
	}
	if err := l.check(ctx, o.Addr); err != nil {
		l.client.Close()
		l.watch.Close()
		return nil, err
	}
	return l, nil
}

func (l *LiveLog) check(ctx context.Context, addr string) error {
	info, err := l.client.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("cannot reach Redis at %s: %w", addr, err)
	}
	for _, line := range strings.Split(info, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		var major, minor int
		fmt.Sscanf(v, "%d.%d", &major, &minor)
		if major < 6 || major == 6 && minor < 2 {
			return fmt.Errorf("Redis at %s is version %s; the live log needs 6.2 or later", addr, v)
		}
	}
	return nil
}

// ClientName is the name this LiveLog's connections have in CLIENT LIST;
// its blocking readers' connections are named ClientName()+"-watch".
func (l *LiveLog) ClientName() string { return l.name }

// Shutdown wakes all waiters (their Wait returns an error), stops the
// reader goroutines and closes the connections. (Close is taken by the
// gaffer.LiveLog method that closes one job's log.)
func (l *LiveLog) Shutdown() error {
	l.mu.Lock()
	if l.shut {
		l.mu.Unlock()
		return nil
	}
	l.shut = true
	close(l.done)
	for id, t := range l.tails {
		t.mu.Lock()
		t.ready, t.err = true, errShutdown
		t.broadcast()
		t.mu.Unlock()
		delete(l.tails, id)
	}
	l.mu.Unlock()
	// Closing the clients also breaks blocked XREADs, so readers exit now.
	err := errors.Join(l.client.Close(), l.watch.Close())
	l.wg.Wait()
	return err
}

type keys struct{ meta, log, idx string }

func (l *LiveLog) keys(jobID int64) keys {
	p := l.prefix + "job:" + strconv.FormatInt(jobID, 10)
	return keys{meta: p + ":meta", log: p + ":log", idx: p + ":idx"}
}

func (k keys) all() []string { return []string{k.meta, k.log, k.idx} }

// entryID is the stream ID of the entry whose newest record is seq.
func entryID(seq int64) string { return strconv.FormatInt(seq, 10) + "-0" }

func (l *LiveLog) ttlMillis() int64 { return l.ttl.Milliseconds() }

var createScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'first', '1', 'last', '0', 'closed', '0', 'bytes', '0', 'trimmed', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 'ok'
`)

// Create starts an empty live log for a job. ECONFLICT if its keys exist.
func (l *LiveLog) Create(ctx context.Context, jobID int64) error {
	k := l.keys(jobID)
	res, err := createScript.Run(ctx, l.client, k.all(), l.ttlMillis()).Text()
	if err != nil {
		return fmt.Errorf("create live log of job %d in Redis: %w", jobID, err)
	} else if res == "exists" {
		return gaffer.Errorf(gaffer.ECONFLICT, "live log for job %d already exists in Redis (key %s); is another server using the same key prefix?", jobID, k.meta)
	}
	l.wmu.Lock()
	l.writers[jobID] = &writer{}
	l.wmu.Unlock()
	return nil
}

// appendScript adds entries and trims the oldest ones beyond the bounds.
// KEYS: meta, log, idx. ARGV: ttl ms, max bytes, max entries, first seq,
// last seq, "1" if the caller is the job's writer and knows the seq is
// right, then (entry's last seq, entry) pairs.
var appendScript = goredis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'last', 'closed', 'bytes', 'trimmed')
if m[2] == '1' then return {'closed'} end
if not m[1] or tonumber(m[1]) + 1 ~= tonumber(ARGV[4]) then
  if ARGV[6] ~= '1' then
    if not m[1] then return {'notfound'} end
    return {'gap', m[1]}
  end
  -- The writer knows its seqs: it skipped records it could not append in
  -- time, or Redis lost the job (flushed, restarted from an older snapshot,
  -- expired). Start again from this batch; readers get ETRIMMED for what
  -- came before and read it from the archive.
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'first', ARGV[4], 'closed', '0')
  m = {ARGV[4], '0', '0', '0'}
end
local bytes, trimmed = tonumber(m[3]) or 0, tonumber(m[4]) or 0
for i = 7, #ARGV, 2 do
  bytes = bytes + #ARGV[i+1]
  redis.call('XADD', KEYS[2], ARGV[i] .. '-0', 'r', ARGV[i+1])
  redis.call('RPUSH', KEYS[3], ARGV[i] .. ' ' .. string.format('%.0f', bytes))
end
local n = redis.call('XLEN', KEYS[2])
local maxBytes, maxEntries = tonumber(ARGV[2]), tonumber(ARGV[3])
local through
while n > 1 and (bytes - trimmed > maxBytes or n > maxEntries) do
  local item = redis.call('LPOP', KEYS[3])
  if not item then break end
  local sp = string.find(item, ' ', 1, true)
  through = string.sub(item, 1, sp - 1)
  trimmed = tonumber(string.sub(item, sp + 1))
  n = n - 1
end
if through then
  redis.call('XTRIM', KEYS[2], 'MINID', through .. '-1')
  redis.call('HSET', KEYS[1], 'first', string.format('%.0f', tonumber(through) + 1))
end
redis.call('HSET', KEYS[1], 'last', ARGV[5], 'bytes', string.format('%.0f', bytes),
  'trimmed', string.format('%.0f', trimmed))
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return {'ok'}
`)

// Append adds records whose seqs continue the log: last+1, last+2, ….
// The whole batch is rejected with EINVALID otherwise, or if the log is
// closed; ENOTFOUND if there is no such job. An empty batch is a no-op.
//
// The instance that created the job and still writes it may also skip
// ahead (records it could not append in time), and if Redis lost the job,
// Append recreates it: either way the log starts again with this batch
// (see the package comment).
func (l *LiveLog) Append(ctx context.Context, jobID int64, recs []gaffer.Record) error {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if want := recs[0].Seq + int64(i); recs[i].Seq != want || want < 1 {
			return gaffer.Errorf(gaffer.EINVALID, "live log for job %d: record seq %d, want %d", jobID, recs[i].Seq, max(want, 1))
		}
	}
	first, last := recs[0].Seq, recs[len(recs)-1].Seq

	l.wmu.Lock()
	w := l.writers[jobID]
	l.wmu.Unlock()
	owner := "0"
	if w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.closed {
			return closedErr(jobID)
		} else if first <= w.last {
			return gaffer.Errorf(gaffer.EINVALID, "live log for job %d: record seq %d, want %d", jobID, first, w.last+1)
		}
		owner = "1"
	}

	blobs, lasts := encodeEntries(recs)
	args := make([]any, 0, 6+2*len(blobs))
	args = append(args, l.ttlMillis(), l.maxBytes, l.maxEntries, first, last, owner)
	for i := range blobs {
		args = append(args, lasts[i], blobs[i])
	}
	res, err := appendScript.Run(ctx, l.client, l.keys(jobID).all(), args...).StringSlice()
	if err != nil {
		return fmt.Errorf("append to live log of job %d in Redis: %w", jobID, err)
	}
	switch res[0] {
	case "ok":
		if w != nil {
			w.last = last
		}
		l.pushLocal(jobID, func() []tailEntry {
			es := make([]tailEntry, 0, len(blobs))
			for _, b := range blobs {
				if e, err := decodeTailEntry(b); err == nil {
					es = append(es, e)
				}
			}
			return es
		})
		return nil
	case "closed":
		return closedErr(jobID)
	case "gap":
		want, _ := strconv.ParseInt(res[1], 10, 64)
		return gaffer.Errorf(gaffer.EINVALID, "live log for job %d: record seq %d, want %d", jobID, first, want+1)
	default:
		return notFound(jobID)
	}
}

// closeScript marks the log closed and adds the end marker "<last>-1".
// KEYS: meta, log, idx. ARGV: ttl ms, the writer's last seq or "".
var closeScript = goredis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'last', 'closed')
if ARGV[2] ~= '' and m[1] ~= ARGV[2] then
  -- Redis lost the job (see the append script): keep just its end.
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'first', string.format('%.0f', tonumber(ARGV[2]) + 1), 'last', ARGV[2],
    'closed', '0', 'bytes', '0', 'trimmed', '0')
  m = {ARGV[2], '0'}
elseif not m[1] then
  return 'notfound'
end
if m[2] ~= '1' then
  redis.call('HSET', KEYS[1], 'closed', '1')
  redis.call('XADD', KEYS[2], m[1] .. '-1', 'end', '1')
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 'ok'
`)

// Close marks the log complete and wakes all waiters, on every instance.
// Closing twice is fine.
func (l *LiveLog) Close(ctx context.Context, jobID int64) error {
	l.wmu.Lock()
	w := l.writers[jobID]
	l.wmu.Unlock()
	expect := ""
	if w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.closed = true // no more appends, even if this Close fails
		expect = strconv.FormatInt(w.last, 10)
	}
	res, err := closeScript.Run(ctx, l.client, l.keys(jobID).all(), l.ttlMillis(), expect).Text()
	if err != nil {
		return fmt.Errorf("close live log of job %d in Redis: %w", jobID, err)
	} else if res == "notfound" {
		return notFound(jobID)
	}
	if w != nil {
		l.pushLocal(jobID, func() []tailEntry { return []tailEntry{{first: w.last, last: w.last, end: true}} })
	}
	l.dropWriter(jobID, w)
	return nil
}

// Delete drops the job's keys and wakes this instance's waiters; other
// instances' readers notice within BlockTime.
func (l *LiveLog) Delete(ctx context.Context, jobID int64) error {
	l.wmu.Lock()
	w := l.writers[jobID]
	l.wmu.Unlock()
	if w != nil {
		// Under w.mu, so that no Append in flight recreates the job.
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		l.dropWriter(jobID, w)
	}
	n, err := l.client.Del(ctx, l.keys(jobID).all()...).Result()

	l.mu.Lock()
	t := l.tails[jobID]
	delete(l.tails, jobID)
	l.mu.Unlock()
	if t != nil {
		t.setGone()
	}

	if err != nil {
		return fmt.Errorf("delete live log of job %d in Redis: %w", jobID, err)
	} else if n == 0 {
		return notFound(jobID)
	}
	return nil
}

func (l *LiveLog) dropWriter(jobID int64, w *writer) {
	l.wmu.Lock()
	if l.writers[jobID] == w {
		delete(l.writers, jobID)
	}
	l.wmu.Unlock()
}

// Read returns up to limit (DefaultReadLimit when <= 0) records with seq >
// after. end is true when the log is closed and nothing follows them.
// ETRIMMED if the record after `after` was trimmed, ENOTFOUND if Redis has
// no such job (never created, deleted, expired or lost). Reads at or near
// the end come from this instance's tail of the job (see tail.go); others
// from Redis.
func (l *LiveLog) Read(ctx context.Context, jobID int64, after int64, limit int) ([]gaffer.Record, bool, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	if after < 0 {
		after = 0
	}
	t, err := l.join(jobID)
	if err != nil {
		return nil, false, err
	}
	defer l.leave(t)
	if err := t.awaitReady(ctx); err != nil {
		return nil, false, err
	}
	if recs, end, gone, ok := t.read(after, limit); gone {
		return nil, false, notFound(jobID)
	} else if ok {
		return recs, end, nil
	}
	return l.readRedis(ctx, jobID, after, limit)
}

// readRedis reads records after `after` from Redis itself.
func (l *LiveLog) readRedis(ctx context.Context, jobID int64, after int64, limit int) ([]gaffer.Record, bool, error) {
	hi := after + int64(limit)
	if hi < after {
		hi = math.MaxInt64
	}

	// Entries with IDs in (after, hi] hold records after `after` up to hi;
	// the next one may hold the rest up to hi. One MULTI, so the meta and
	// the entries agree even while the writer trims.
	k := l.keys(jobID)
	var meta *goredis.SliceCmd
	var within, next *goredis.XMessageSliceCmd
	_, err := l.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		meta = p.HMGet(ctx, k.meta, "first", "last", "closed")
		within = p.XRange(ctx, k.log, "("+entryID(after), entryID(hi))
		next = p.XRangeN(ctx, k.log, "("+entryID(hi), "+", 1)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read live log of job %d from Redis: %w", jobID, err)
	}
	m := meta.Val()
	if m[1] == nil {
		return nil, false, notFound(jobID)
	}
	first, err1 := parseInt(m[0])
	last, err2 := parseInt(m[1])
	if err := errors.Join(err1, err2); err != nil {
		return nil, false, fmt.Errorf("read live log of job %d from Redis: bad meta: %w", jobID, err)
	}
	closed := m[2] == "1"
	if after+1 < first {
		return nil, false, trimmed(jobID, after, first)
	} else if after >= last {
		return nil, closed, nil
	}

	recs := make([]gaffer.Record, 0, min(int64(limit), last-after))
	for _, msg := range append(within.Val(), next.Val()...) {
		blob, ok := msg.Values["r"].(string)
		if !ok || len(recs) == limit {
			continue // the end marker
		}
		if recs, err = decodeEntry(recs, []byte(blob), after, limit); err != nil {
			return nil, false, fmt.Errorf("read live log of job %d, entry %s: %w", jobID, msg.ID, err)
		}
	}
	// Entries hold consecutive seqs and trims are atomic, so this holds;
	// if the stream was lost under its meta, the archive has the records.
	if n := len(recs); n == 0 || recs[0].Seq != after+1 || recs[n-1].Seq != after+int64(n) {
		next := after + 1 // unknown: claim no gap
		if n > 0 && recs[0].Seq > next {
			next = recs[0].Seq
		}
		return nil, false, trimmed(jobID, after, next)
	}
	// At most about gaffer.MaxReadBytes; the dropped records' slots are
	// cleared so their entries' bytes are not kept alive.
	n, size := 0, 0
	for n < len(recs) && size < gaffer.MaxReadBytes {
		size += recs[n].Size()
		n++
	}
	clear(recs[n:])
	recs = recs[:n]
	return recs, closed && recs[len(recs)-1].Seq == last, nil
}

// Wait blocks until a record with seq > after exists, the log is closed or
// deleted, or ctx is done (returning ctx.Err() at once). ENOTFOUND if Redis
// has no such job. However many callers wait on a job, this instance runs
// one blocking XREAD for it (its tail's), which wakes them all.
func (l *LiveLog) Wait(ctx context.Context, jobID int64, after int64) error {
	t, err := l.join(jobID)
	if err != nil {
		return err
	}
	defer l.leave(t)
	seen := false
	for {
		ready, last, closed, gone, terr, changed := t.state()
		// The state may lag Redis, never lead it: anything newer makes the
		// tail's XREAD return and change the state, closing `changed`.
		if ready {
			switch {
			case terr != nil:
				return terr
			case gone && seen:
				// Deleted while we waited: a wake-up, not an error; the
				// next Read gets ENOTFOUND and turns to the archive.
				return nil
			case gone:
				return notFound(jobID)
			case last > after || closed:
				return nil
			}
			seen = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func parseInt(v any) (int64, error) {
	s, _ := v.(string)
	return strconv.ParseInt(s, 10, 64)
}

func closedErr(jobID int64) error {
	return gaffer.Errorf(gaffer.EINVALID, "live log for job %d is closed", jobID)
}

func notFound(jobID int64) error {
	return gaffer.Errorf(gaffer.ENOTFOUND, "no live log for job %d in Redis", jobID)
}

func trimmed(jobID, after, first int64) error {
	return &gaffer.TrimmedError{JobID: jobID, After: after, First: first}
}
