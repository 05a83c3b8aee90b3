package redis

import goredis "github.com/redis/go-redis/v9"

// AddHook adds h to both of l's Redis clients, for tests that count
// commands.
func AddHook(l *LiveLog, h goredis.Hook) {
	l.client.AddHook(h)
	l.watch.AddHook(h)
}
