package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// Shared mode: `gaffer serve` with PostgreSQL, Redis and an archive
// directory, as several instances run (README, "Run several instances").
// The services are the test suite's: GAFFER_TEST_DATABASE_URL and
// GAFFER_TEST_REDIS_URL, by default 127.0.0.1:5432 (user postgres, trust)
// and 127.0.0.1:6379.

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// benchDatabaseURL creates a fresh PostgreSQL database for one benchmark and
// drops it at the end.
func benchDatabaseURL(b *testing.B) string {
	b.Helper()
	admin := os.Getenv("GAFFER_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		b.Fatalf("the shared-mode figures need PostgreSQL (GAFFER_TEST_DATABASE_URL, default 127.0.0.1:5432, user postgres without a password; scripts/test starts one): %v", err)
	}
	defer conn.Close(ctx)
	name := randomName("gaffer_bench_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func benchRedisURL() string {
	if u := os.Getenv("GAFFER_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// sharedServer is a gaffer server in shared mode with its Redis client
// (for measuring) and key prefix.
type sharedServer struct {
	*server
	redis  *goredis.Client
	prefix string
}

// startSharedServer starts `gaffer serve` on a fresh database, a unique
// Redis prefix and its own archive directory; the prefix's keys are deleted
// at the end.
func startSharedServer(b *testing.B, bin string, s *sshtest.Server, extra ...string) *sharedServer {
	b.Helper()
	redisURL := benchRedisURL()
	opt, err := goredis.ParseURL(redisURL)
	if err != nil {
		b.Fatalf("GAFFER_TEST_REDIS_URL %q: %v", redisURL, err)
	}
	rc := goredis.NewClient(opt)
	b.Cleanup(func() { rc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rc.Ping(ctx).Err(); err != nil {
		b.Fatalf("the shared-mode figures need Redis (GAFFER_TEST_REDIS_URL, default 127.0.0.1:6379; scripts/test starts one): %v", err)
	}
	prefix := randomName("gaffer-bench-") + ":"
	// Registered before the server (cleanups run last-in first-out): the
	// keys are deleted once the server has stopped.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := rc.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	db := benchDatabaseURL(b)
	archive := filepath.Join(b.TempDir(), "archive")
	inv := writeInventory(b, s, []string{hostName}, "")
	args := append([]string{"--instance", "bench", "--database-url", db, "--redis-url", redisURL,
		"--redis-prefix", prefix, "--archive-dir", archive}, extra...)
	srv := startServer(b, bin, inv, s.KnownHosts, args...)
	return &sharedServer{server: srv, redis: rc, prefix: prefix}
}

// redisUsedMemory is INFO memory's used_memory.
func redisUsedMemory(ctx context.Context, rc *goredis.Client) (int64, error) {
	return redisInfo(ctx, rc, "memory", "used_memory")
}

// redisInfo is one number of a section of INFO.
func redisInfo(ctx context.Context, rc *goredis.Client, section, field string) (int64, error) {
	info, err := rc.Info(ctx, section).Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO %s has no %s", section, field)
}

// redisJobMemory samples, every 50 ms until stopped, MEMORY USAGE (exact:
// SAMPLES 0) of one job's three keys and the Redis server's used_memory.
type redisJobMemory struct {
	peakJob, peakLog  int64 // bytes: the three keys together, the stream alone
	peakUsed          int64 // used_memory
	samples, withKeys int
	errs              []error
	stopc             chan struct{}
	wg                sync.WaitGroup
}

func (ss *sharedServer) sampleJob(id int64) *redisJobMemory {
	m := &redisJobMemory{stopc: make(chan struct{})}
	p := ss.prefix + "job:" + strconv.FormatInt(id, 10)
	keys := []string{p + ":log", p + ":meta", p + ":idx"}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			pipe := ss.redis.Pipeline()
			usage := make([]*goredis.IntCmd, len(keys))
			for i, k := range keys {
				usage[i] = pipe.MemoryUsage(ctx, k, 0)
			}
			info := pipe.Info(ctx, "memory")
			pipe.Exec(ctx)
			cancel()
			var job int64
			found := false
			for i, c := range usage {
				v, err := c.Result()
				switch {
				case errors.Is(err, goredis.Nil):
				case err != nil:
					if len(m.errs) < 3 {
						m.errs = append(m.errs, err)
					}
				default:
					job += v
					found = true
					if i == 0 {
						m.peakLog = max(m.peakLog, v)
					}
				}
			}
			m.samples++
			if found {
				m.withKeys++
				m.peakJob = max(m.peakJob, job)
			}
			if s, err := info.Result(); err == nil {
				for _, line := range strings.Split(s, "\r\n") {
					if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
						if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
							m.peakUsed = max(m.peakUsed, n)
						}
					}
				}
			}
			select {
			case <-m.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *redisJobMemory) stop() {
	close(m.stopc)
	m.wg.Wait()
}
