package cache_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/internal/testenv"
)

func newCaches(t testing.TB) map[string]query.ReadModelCache {
	t.Helper()
	opts, prefix := testenv.Redis(t)
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	redisCache, err := cache.NewRedis(client, cache.RedisConfig{KeyPrefix: prefix, TTL: time.Minute, BreakerCoolDown: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = redisCache.Close() })
	breakerClient := redis.NewClient(opts)
	t.Cleanup(func() { _ = breakerClient.Close() })
	guarded, err := cache.NewRedis(breakerClient, cache.RedisConfig{KeyPrefix: prefix + ":guarded", TTL: time.Minute, BreakerCoolDown: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = guarded.Close() })
	breaker, err := cache.NewBreaker(guarded, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]query.ReadModelCache{
		"memory":          cache.NewMemory(100),
		"redis":           redisCache,
		"redis + breaker": breaker,
	}
}

func TestReadModelCache(t *testing.T) {
	t.Parallel()

	for name, cache := range newCaches(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()

			_, gen, found, err := cache.Get(ctx, "a")
			if err != nil || found {
				t.Fatalf("empty cache: found %v, err %v", found, err)
			}
			if err := cache.Set(ctx, "a", gen, []byte("one")); err != nil {
				t.Fatal(err)
			}
			value, gen2, found, err := cache.Get(ctx, "a")
			if err != nil || !found || string(value) != "one" || gen2 != gen {
				t.Fatalf("after Set: %q, %v, %v (generation %d, was %d)", value, found, err, gen2, gen)
			}
			if _, _, found, _ := cache.Get(ctx, "b"); found {
				t.Fatal("another key is found")
			}

			if err := cache.Invalidate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, _, found, _ := cache.Get(ctx, "a"); found {
				t.Fatal("an invalidated entry is found")
			}

			// The stale-set race: a reader took the generation before the
			// invalidation and stores what it loaded after it.
			_, readerGen, _, _ := cache.Get(ctx, "c")
			if err := cache.Invalidate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := cache.Set(ctx, "c", readerGen, []byte("stale")); err != nil {
				t.Fatal(err)
			}
			if value, _, found, _ := cache.Get(ctx, "c"); found {
				t.Fatalf("a value loaded before an invalidation survived it: %q", value)
			}
		})
	}
}

func TestReadModelCacheConcurrentInvalidation(t *testing.T) {
	t.Parallel()

	for name, cache := range newCaches(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()

			// Readers keep storing the version they loaded while a writer bumps the
			// version and invalidates; once the writer stops, the cache must never
			// hold anything older than the last version.
			var (
				mu      sync.RWMutex
				version int
			)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, gen, _, err := cache.Get(ctx, "k")
						if err != nil {
							t.Error(err)
							return
						}
						mu.RLock()
						loaded := version
						mu.RUnlock()
						_ = cache.Set(ctx, "k", gen, []byte{byte(loaded)})
					}
				})
			}
			for range 50 {
				mu.Lock()
				version++
				mu.Unlock()
				if err := cache.Invalidate(ctx); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond)
			}
			close(stop)
			wg.Wait()

			if value, _, found, _ := cache.Get(ctx, "k"); found && int(value[0]) != version {
				t.Fatalf("cache holds version %d after the last invalidation for version %d", value[0], version)
			}
		})
	}
}

func TestReadModelMemoryCacheIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cache := cache.NewMemory(2)
	for _, key := range []string{"a", "b", "c"} {
		_ = cache.Set(ctx, key, 0, []byte(key))
	}
	if _, _, found, _ := cache.Get(ctx, "c"); found {
		t.Fatal("the cache grew past its bound")
	}
}

// A process keeps near copies of what it read; another process's
// invalidation, once its message has arrived, and the entry's expiry, must
// end them all the same.
func TestReadModelRedisCacheNearCopies(t *testing.T) {
	t.Parallel()
	opts, prefix := testenv.Redis(t)
	open := func(ttl time.Duration) *cache.Redis {
		client := redis.NewClient(opts)
		t.Cleanup(func() { _ = client.Close() })
		cache, err := cache.NewRedis(client, cache.RedisConfig{KeyPrefix: prefix, TTL: ttl, BreakerCoolDown: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cache.Close() })
		return cache
	}
	ctx := context.Background()
	api, worker := open(time.Minute), open(time.Minute)

	_, generation, _, err := api.Get(ctx, "page")
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Set(ctx, "page", generation, []byte("before")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if value, _, found, err := api.Get(ctx, "page"); err != nil || !found || string(value) != "before" {
			t.Fatalf("Get = %q, %v, %v", value, found, err)
		}
	}
	if err := worker.Invalidate(ctx); err != nil {
		t.Fatal(err)
	}
	// Another process hears of the invalidation when its message arrives.
	waitForMiss(t, api, "page", "after another process's invalidation")

	short := open(300 * time.Millisecond)
	_, generation, _, err = short.Get(ctx, "short")
	if err != nil {
		t.Fatal(err)
	}
	if err := short.Set(ctx, "short", generation, []byte("brief")); err != nil {
		t.Fatal(err)
	}
	if _, _, found, _ := short.Get(ctx, "short"); !found {
		t.Fatal("a fresh entry is not found")
	}
	time.Sleep(400 * time.Millisecond)
	if value, _, found, err := short.Get(ctx, "short"); err != nil || found {
		t.Fatalf("after the entry expired: %q, %v, %v", value, found, err)
	}
}
