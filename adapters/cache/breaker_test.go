package cache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/internal/testenv"
)

// redisClientTimeout is the Redis client's timeout in these tests: a call that
// waits for it has gone to a Redis that does not answer.
const redisClientTimeout = 500 * time.Millisecond

// breakerCoolDown is the breaker's in these tests.
const breakerCoolDown = time.Second

// newBrokenRedis is a breaker over a Redis cache reached through a proxy the
// test can take down.
func newBrokenRedis(t *testing.T) (*cache.Breaker, *testenv.Proxy) {
	t.Helper()
	opts, prefix := testenv.Redis(t)
	proxy := testenv.NewProxy(t, opts.Addr)
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr(), DialTimeout: redisClientTimeout,
		ReadTimeout: redisClientTimeout, WriteTimeout: redisClientTimeout, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	redisCache, err := cache.NewRedis(client, cache.RedisConfig{KeyPrefix: prefix, TTL: time.Minute, BreakerCoolDown: breakerCoolDown})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = redisCache.Close() })
	breaker, err := cache.NewBreaker(redisCache, breakerCoolDown, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return breaker, proxy
}

// TestBreakerFailsFastOnceOpen: with Redis hung, the first call waits for the
// client's timeout and opens the circuit; none of the next ten waits for it.
func TestBreakerFailsFastOnceOpen(t *testing.T) {
	t.Parallel()
	for _, outage := range []string{"down", "hung"} {
		t.Run(outage, func(t *testing.T) {
			t.Parallel()
			breaker, proxy := newBrokenRedis(t)
			ctx := context.Background()
			if _, _, _, err := breaker.Get(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if outage == "down" {
				proxy.Down()
			} else {
				proxy.Hang()
			}
			if _, _, _, err := breaker.Get(ctx, "a"); err == nil {
				t.Fatal("a Get with Redis away succeeded")
			}
			for i := range 10 {
				began := time.Now()
				_, _, _, err := breaker.Get(ctx, "a")
				if took := time.Since(began); took >= 100*time.Millisecond {
					t.Fatalf("read %d after the first failure took %s", i+1, took)
				}
				if !errors.Is(err, cache.ErrCacheUnavailable) {
					t.Fatalf("read %d after the first failure: %v", i+1, err)
				}
			}
			if err := breaker.Set(ctx, "a", 0, []byte("x")); !errors.Is(err, cache.ErrCacheUnavailable) {
				t.Fatalf("Set while open: %v", err)
			}
		})
	}
}

// TestBreakerRecoversWhenRedisReturns: after the cool-down a probe goes
// through, and once Redis answers the cache serves again.
func TestBreakerRecoversWhenRedisReturns(t *testing.T) {
	t.Parallel()
	breaker, proxy := newBrokenRedis(t)
	ctx := context.Background()
	proxy.Down()
	if _, _, _, err := breaker.Get(ctx, "a"); err == nil {
		t.Fatal("a Get with Redis down succeeded")
	}
	proxy.Up()
	if _, _, _, err := breaker.Get(ctx, "a"); !errors.Is(err, cache.ErrCacheUnavailable) {
		t.Fatalf("within the cool-down: %v", err)
	}
	time.Sleep(breakerCoolDown + 50*time.Millisecond)
	_, generation, _, err := breaker.Get(ctx, "a")
	if err != nil {
		t.Fatalf("after the cool-down, Redis up: %v", err)
	}
	if err := breaker.Set(ctx, "a", generation, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if value, _, found, err := breaker.Get(ctx, "a"); err != nil || !found || string(value) != "one" {
		t.Fatalf("after recovery: %q %v %v", value, found, err)
	}
}

// TestBreakerNeverLosesAnInvalidation: an invalidation that cannot reach Redis
// fails (the event handler tries again), and until one gets through no entry
// from before it is served, even once Redis is back.
func TestBreakerNeverLosesAnInvalidation(t *testing.T) {
	t.Parallel()
	for _, through := range []string{"redis failing", "circuit open"} {
		t.Run(through, func(t *testing.T) {
			t.Parallel()
			breaker, proxy := newBrokenRedis(t)
			ctx := context.Background()
			_, generation, _, err := breaker.Get(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if err := breaker.Set(ctx, "a", generation, []byte("stale")); err != nil {
				t.Fatal(err)
			}

			proxy.Down()
			if through == "circuit open" {
				_, _, _, _ = breaker.Get(ctx, "b") // opens the circuit
			}
			if err := breaker.Invalidate(ctx); err == nil {
				t.Fatal("an invalidation with Redis down reported success")
			}
			proxy.Up()
			time.Sleep(breakerCoolDown + 50*time.Millisecond)

			value, _, found, err := breaker.Get(ctx, "a")
			if err != nil {
				t.Fatalf("Redis back: %v", err)
			}
			if found {
				t.Fatalf("an entry older than a failed invalidation is served: %q", value)
			}
		})
	}
}
