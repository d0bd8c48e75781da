package cache_test

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/internal/testenv"
)

// invalidationWait bounds the wait for an invalidation message, or for the
// subscription to be live again, in these tests: far more than either takes.
const invalidationWait = 2 * time.Second

// subscriptionLiveWithin is the cache's bound on serving a near copy after
// its subscription was last heard from (ARCHITECTURE.md): the longest a
// process whose subscription went silent or was cut serves an entry.
const subscriptionLiveWithin = time.Second

// commandCounter counts the commands a client sends, pipelined ones included.
type commandCounter struct{ sent atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.sent.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.sent.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// countedCache is a Redis cache, as one process would have it, and the
// commands its client sends.
type countedCache struct {
	*cache.Redis
	commands *commandCounter
}

func openCountedCache(t *testing.T, opts *redis.Options, prefix string) countedCache {
	t.Helper()
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	counter := &commandCounter{}
	client.AddHook(counter)
	redisCache, err := cache.NewRedis(client, cache.RedisConfig{KeyPrefix: prefix, TTL: time.Minute, BreakerCoolDown: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = redisCache.Close() })
	return countedCache{Redis: redisCache, commands: counter}
}

// getSendsNothing reports whether a Get of key was a hit of value that sent
// no command to Redis.
func (c countedCache) getSendsNothing(t *testing.T, key, value string) bool {
	t.Helper()
	before := c.commands.sent.Load()
	got, _, found, err := c.Get(context.Background(), key)
	if err == nil && found && string(got) != value {
		t.Fatalf("Get(%q) = %q, want %q", key, got, value)
	}
	return err == nil && found && c.commands.sent.Load() == before
}

// waitUntilServedNear waits until a Get of key is a hit without a round trip:
// the subscription is live and the near copy current.
func (c countedCache) waitUntilServedNear(t *testing.T, key, value string) {
	t.Helper()
	deadline := time.Now().Add(invalidationWait)
	for !c.getSendsNothing(t, key, value) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s, a Get of %q still asks Redis", invalidationWait, key)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fill stores value for key in the current generation, as a reader would
// after a miss.
func fill(t *testing.T, c cache.BreakableCache, key, value string) {
	t.Helper()
	ctx := context.Background()
	_, generation, _, err := c.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, key, generation, []byte(value)); err != nil {
		t.Fatal(err)
	}
}

// waitForMiss waits until a Get of key is a miss.
func waitForMiss(t *testing.T, c interface {
	Get(context.Context, string) ([]byte, uint64, bool, error)
}, key, what string) {
	t.Helper()
	deadline := time.Now().Add(invalidationWait)
	for {
		value, _, found, err := c.Get(context.Background(), key)
		if err == nil && !found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s, %s later a Get still finds %q (err %v)", what, invalidationWait, value, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// A hit on a near copy sends nothing to Redis while the subscription is live,
// and the pings keep it live when nothing is published.
func TestRedisCacheHitSendsNothingWhileLive(t *testing.T) {
	t.Parallel()
	opts, prefix := testenv.Redis(t)
	api := openCountedCache(t, opts, prefix)
	fill(t, api, "page", "one")
	api.waitUntilServedNear(t, "page", "one")

	// Longer than the liveness bound: only the pings keep the channel live.
	for i := range 100 {
		if !api.getSendsNothing(t, "page", "one") {
			t.Fatalf("hit %d asked Redis", i+1)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// The process that invalidates never serves what it cached before, not even
// for the time its own message takes to come back.
func TestRedisCacheOwnInvalidationIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	opts, prefix := testenv.Redis(t)
	api := openCountedCache(t, opts, prefix)
	ctx := context.Background()
	for i := range 50 {
		value := string(rune('a' + i%26))
		fill(t, api, "page", value)
		api.waitUntilServedNear(t, "page", value)
		if err := api.Invalidate(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _, found, err := api.Get(ctx, "page"); err != nil || found {
			t.Fatalf("round %d: right after its own invalidation: %q, %v, %v", i+1, got, found, err)
		}
	}
}

// Two processes on one Redis: what one caches, the other's invalidation ends
// as soon as its message arrives.
func TestRedisCacheHearsAnotherProcesssInvalidation(t *testing.T) {
	t.Parallel()
	opts, prefix := testenv.Redis(t)
	api, worker := openCountedCache(t, opts, prefix), openCountedCache(t, opts, prefix)
	ctx := context.Background()
	for i := range 20 {
		value := string(rune('a' + i))
		fill(t, api, "page", value)
		api.waitUntilServedNear(t, "page", value)
		if err := worker.Invalidate(ctx); err != nil {
			t.Fatal(err)
		}
		waitForMiss(t, api, "page", "after another process's invalidation")
	}
}

// A Redis restarted empty has lost its generation counter: a near copy of the
// old Redis must not pass for a generation of the new one.
func TestRedisCacheStopsServingANearCopyOfARestartedRedis(t *testing.T) {
	t.Parallel()
	server := testenv.StartRedisServer(t, "")
	opts := &redis.Options{Addr: server.Addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	prefix := testenv.UniqueName("techradar-test-restart-")
	api, worker := openCountedCache(t, opts, prefix), openCountedCache(t, opts, prefix)
	ctx := context.Background()

	const generations = 3
	for range generations {
		if err := worker.Invalidate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, api, "page", "old")
	api.waitUntilServedNear(t, "page", "old")

	stoppedAt := time.Now()
	server.Stop()
	testenv.StartRedisServer(t, server.Addr())
	deadline := time.Now().Add(invalidationWait)
	for invalidated := 0; invalidated < generations; {
		if err := worker.Invalidate(ctx); err == nil {
			invalidated++
		} else if time.Now().After(deadline) {
			t.Fatalf("no invalidation reaches the new Redis: %v", err)
		}
	}
	admin := redis.NewClient(opts)
	t.Cleanup(func() { _ = admin.Close() })
	newest, err := strconv.ParseUint(admin.Get(ctx, prefix+":generation").Val(), 10, 64)
	if err != nil {
		t.Fatalf("the new Redis's generation: %v", err)
	}
	firstNew := newest - (generations - 1)

	// The api may serve its old copy until its listener takes in that the
	// subscription's connection was cut, as it may after any silent
	// subscription: at most subscriptionLiveWithin after it was last heard,
	// which was before the stop. A busy machine can delay the listener that
	// long. Never after that, and never as a copy of a generation of the new
	// Redis, whether or not the api's subscription is back yet.
	for end := time.Now().Add(invalidationWait); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		value, generation, found, err := api.Get(ctx, "page")
		if err != nil || !found {
			continue
		}
		if generation >= firstNew {
			t.Fatalf("a copy from before the restart passes for a generation of the new Redis: %q in generation %d (the new Redis's first: %d)", value, generation, firstNew)
		}
		if since := time.Since(stoppedAt); since > subscriptionLiveWithin {
			t.Fatalf("a copy from before the restart is served %s after the restart: %q in generation %d", since, value, generation)
		}
	}
	// And the cache works on the new Redis.
	fill(t, api, "page", "new")
	api.waitUntilServedNear(t, "page", "new")
}

// A counter lost while every connection stays up (a flush, an eviction)
// starts again above every number it gave: a near copy stamped with an old
// one never passes for current, in the process that invalidates or any other.
func TestRedisCacheGenerationsNeverRepeatAfterTheCounterIsLost(t *testing.T) {
	t.Parallel()
	server := testenv.StartRedisServer(t, "")
	opts := &redis.Options{Addr: server.Addr()}
	prefix := testenv.UniqueName("techradar-test-flush-")
	api, worker := openCountedCache(t, opts, prefix), openCountedCache(t, opts, prefix)
	ctx := context.Background()
	for range 5 {
		if err := worker.Invalidate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []countedCache{api, worker} {
		fill(t, c, "page", "old")
		c.waitUntilServedNear(t, "page", "old")
	}

	admin := redis.NewClient(opts)
	defer admin.Close()
	if err := admin.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := worker.Invalidate(ctx); err != nil {
		t.Fatal(err)
	}
	if value, _, found, err := worker.Get(ctx, "page"); err == nil && found {
		t.Fatalf("the invalidating process serves %q after its invalidation", value)
	}
	waitForMiss(t, api, "page", "after an invalidation of a flushed Redis")
}

// An invalidation that fails may or may not have reached Redis, and Redis may
// be hanging: the process's own near copies are not served after it, so a read
// asks Redis (and, failing, the store) instead of the copy the change made
// stale.
func TestRedisCacheFailedInvalidationDropsNearCopies(t *testing.T) {
	t.Parallel()
	server := testenv.StartRedisServer(t, "")
	opts := &redis.Options{Addr: server.Addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1}
	api := openCountedCache(t, opts, testenv.UniqueName("techradar-test-failed-invalidation-"))
	fill(t, api, "page", "before")
	api.waitUntilServedNear(t, "page", "before")

	server.Freeze()
	defer server.Thaw()
	if err := api.Invalidate(context.Background()); err == nil {
		t.Fatal("an invalidation of a frozen Redis succeeded")
	}
	if value, _, found, err := api.Get(context.Background(), "page"); err == nil && found {
		t.Fatalf("after a failed invalidation the near copy %q is served", value)
	}
}

// A subscription that Redis cut, or that went silent, serves nothing without
// asking Redis; once it is back, hits need no round trip again.
func TestRedisCacheAsksRedisWhileTheSubscriptionIsAway(t *testing.T) {
	t.Parallel()
	for _, away := range []string{"cut", "silent"} {
		t.Run(away, func(t *testing.T) {
			t.Parallel()
			server := testenv.StartRedisServer(t, "")
			opts := &redis.Options{Addr: server.Addr(), DialTimeout: 200 * time.Millisecond,
				ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1}
			prefix := testenv.UniqueName("techradar-test-away-")
			api := openCountedCache(t, opts, prefix)
			fill(t, api, "page", "one")
			api.waitUntilServedNear(t, "page", "one")

			if away == "cut" {
				admin := redis.NewClient(&redis.Options{Addr: server.Addr()})
				defer admin.Close()
				if err := admin.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Err(); err != nil {
					t.Fatal(err)
				}
			} else {
				server.Freeze()
			}
			// A cut is heard at once, silence within the liveness bound;
			// from then on a Get asks Redis (and, frozen, gets no answer).
			deadline := time.Now().Add(invalidationWait)
			for api.getSendsNothing(t, "page", "one") {
				if time.Now().After(deadline) {
					t.Fatalf("%s after the subscription was %s, hits still skip Redis", invalidationWait, away)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if away == "silent" {
				for range 5 {
					if api.getSendsNothing(t, "page", "one") {
						t.Fatal("a hit skipped Redis while the subscription is silent")
					}
				}
				server.Thaw()
			}
			fill(t, api, "page", "two")
			api.waitUntilServedNear(t, "page", "two")
		})
	}
}

// Close ends the listener's goroutine, even with Redis frozen, and quickly.
func TestRedisCacheCloseEndsItsGoroutine(t *testing.T) {
	// Not parallel: it counts the listeners of the whole test binary.
	server := testenv.StartRedisServer(t, "")
	opts := &redis.Options{Addr: server.Addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	prefix := testenv.UniqueName("techradar-test-close-")
	var caches []countedCache
	for range 3 {
		caches = append(caches, openCountedCache(t, opts, prefix))
	}
	fill(t, caches[0], "page", "one")
	caches[0].waitUntilServedNear(t, "page", "one")
	if n := listeners(t); n < len(caches) {
		t.Fatalf("%d listeners running, want at least %d", n, len(caches))
	}

	server.Freeze()
	defer server.Thaw()
	began := time.Now()
	for _, c := range caches {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		_ = c.Close() // twice is harmless
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("closing with Redis frozen took %s", took)
	}
	deadline := time.Now().Add(invalidationWait)
	for listeners(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d listeners still running %s after Close", listeners(t), invalidationWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listeners counts the goroutines of the invalidation listeners.
func listeners(t *testing.T) int {
	t.Helper()
	stacks := make([]byte, 1<<20)
	for {
		n := runtime.Stack(stacks, true)
		if n < len(stacks) {
			return bytes.Count(stacks[:n], []byte("cache.(*listener).run("))
		}
		if len(stacks) >= 64<<20 {
			t.Fatal("the goroutine stacks do not fit in 64 MiB")
		}
		stacks = make([]byte, 2*len(stacks))
	}
}
