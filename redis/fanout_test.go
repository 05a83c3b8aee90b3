package redis_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gaffer-dev/gaffer/redis"
)

// cmdCounter counts the commands a client sends, pipelined ones included.
type cmdCounter struct{ n atomic.Int64 }

func (c *cmdCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *cmdCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *cmdCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// viewerCommands has `viewers` readers on one instance follow a job that
// another instance writes, from its start to its end, as the server's
// viewers do (read until nothing is left, then wait), and returns the Redis
// commands the viewers' instance sent.
func viewerCommands(t *testing.T, viewers int) int64 {
	t.Helper()
	const batches, perBatch = 100, 10
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := newPrefix(t)
	writer := open(t, redis.Options{Prefix: prefix})
	instance := open(t, redis.Options{Prefix: prefix})
	var count cmdCounter
	redis.AddHook(instance, &count)
	if err := writer.Create(ctx, 1); err != nil {
		t.Fatal(err)
	}

	var started, done sync.WaitGroup
	started.Add(viewers)
	done.Add(viewers)
	errc := make(chan error, viewers)
	for v := 0; v < viewers; v++ {
		go func() {
			defer done.Done()
			var after int64
			first := true
			for {
				recs, end, err := instance.Read(ctx, 1, after, 1000)
				if first {
					first = false
					started.Done()
				}
				if err != nil {
					errc <- fmt.Errorf("Read(after=%d): %w", after, err)
					return
				}
				for _, r := range recs {
					if r.Seq != after+1 {
						errc <- fmt.Errorf("record %d after %d", r.Seq, after)
						return
					}
					after = r.Seq
				}
				if end {
					if after != batches*perBatch {
						errc <- fmt.Errorf("end after %d records", after)
					}
					return
				}
				if len(recs) == 0 {
					if err := instance.Wait(ctx, 1, after); err != nil {
						errc <- fmt.Errorf("Wait(after=%d): %w", after, err)
						return
					}
				}
			}
		}()
	}
	started.Wait()
	for seq := int64(1); seq <= batches*perBatch; seq += perBatch {
		if err := writer.Append(ctx, 1, lineBatch(seq, perBatch)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // a job printing a chunk at a time
	}
	if err := writer.Close(ctx, 1); err != nil {
		t.Fatal(err)
	}
	done.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	return count.n.Load()
}

// The Redis commands an instance sends for a job do not grow with the
// number of its viewers: one reader of the job's stream serves them all.
func TestCommandsDoNotGrowWithViewers(t *testing.T) {
	one := viewerCommands(t, 1)
	many := viewerCommands(t, 200)
	t.Logf("Redis commands to follow a job of 100 appends: %d for 1 viewer, %d for 200 viewers", one, many)
	// Not equal: how XREAD answers group entries depends on the timing.
	if many > 2*one+20 {
		t.Fatalf("%d Redis commands for 200 viewers, %d for one: they grow with viewers", many, one)
	}
}
