package ratelimit_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/ratelimit"
	"github.com/techradar/techradar/app/limit"
	"github.com/techradar/techradar/internal/testenv"
)

// newLimiters builds every implementation of limit.Limiter for rate r, each
// with keys of its own.
func newLimiters(t *testing.T, r limit.Rate) map[string]limit.Limiter {
	t.Helper()
	memory, err := ratelimit.NewMemory(r, ratelimit.DefaultMaxKeys)
	if err != nil {
		t.Fatal(err)
	}
	opts, prefix := testenv.Redis(t)
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	shared, err := ratelimit.NewRedis(client, r, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]limit.Limiter{"memory": memory, "redis": shared}
}

func take(t *testing.T, l limit.Limiter, key string) limit.Decision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := l.Take(ctx, key)
	if err != nil {
		t.Fatalf("take %s: %v", key, err)
	}
	return d
}

// TestLimiterContract: a burst of Count is allowed, counting down; the next is
// refused with the time to wait; each key has its own budget.
func TestLimiterContract(t *testing.T) {
	t.Parallel()
	// An hour's period: nothing comes back while the test runs.
	r := limit.Rate{Count: 3, Period: time.Hour}
	for name, l := range newLimiters(t, r) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for i := range 3 {
				d := take(t, l, "client-a")
				if !d.Allowed || d.Limit != 3 || d.Remaining != 2-i || d.RetryAfter != 0 {
					t.Fatalf("event %d: %+v, want allowed, limit 3, remaining %d", i+1, d, 2-i)
				}
				if d.ResetAfter <= 0 || d.ResetAfter > time.Hour {
					t.Fatalf("event %d: reset after %s, want within the period", i+1, d.ResetAfter)
				}
			}
			d := take(t, l, "client-a")
			if d.Allowed || d.Remaining != 0 || d.Limit != 3 {
				t.Fatalf("fourth event: %+v, want refused with nothing remaining", d)
			}
			// One event comes back every Period/Count.
			if d.RetryAfter <= 0 || d.RetryAfter > 20*time.Minute {
				t.Fatalf("fourth event: retry after %s, want (0, 20m]", d.RetryAfter)
			}
			if d.ResetAfter < d.RetryAfter || d.ResetAfter > time.Hour {
				t.Fatalf("fourth event: reset after %s, want between the retry (%s) and the period", d.ResetAfter, d.RetryAfter)
			}
			if d := take(t, l, "client-b"); !d.Allowed || d.Remaining != 2 {
				t.Fatalf("another key: %+v, want a budget of its own", d)
			}
		})
	}
}

// TestLimiterGivesBackAfterRetryAfter: once RetryAfter has passed, one more
// event is allowed.
func TestLimiterGivesBackAfterRetryAfter(t *testing.T) {
	t.Parallel()
	r := limit.Rate{Count: 2, Period: 400 * time.Millisecond}
	for name, l := range newLimiters(t, r) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			take(t, l, "k")
			take(t, l, "k")
			d := take(t, l, "k")
			if d.Allowed {
				// The machine was slow enough for a token to come back; the
				// refusal is what this test needs.
				d = take(t, l, "k")
			}
			if d.Allowed {
				t.Skip("the machine is too slow to spend a burst within its period")
			}
			deadline := time.Now().Add(10 * time.Second)
			time.Sleep(d.RetryAfter)
			for !take(t, l, "k").Allowed {
				if time.Now().After(deadline) {
					t.Fatalf("still refused 10s after a retry-after of %s", d.RetryAfter)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestRedisLimitersShareOneBudget: two processes' limiters, each with its own
// Redis client, spend one budget.
func TestRedisLimitersShareOneBudget(t *testing.T) {
	t.Parallel()
	opts, prefix := testenv.Redis(t)
	r := limit.Rate{Count: 2, Period: time.Hour}
	var limiters []limit.Limiter
	for range 2 {
		client := redis.NewClient(opts)
		t.Cleanup(func() { _ = client.Close() })
		l, err := ratelimit.NewRedis(client, r, prefix)
		if err != nil {
			t.Fatal(err)
		}
		limiters = append(limiters, l)
	}
	first, second := limiters[0], limiters[1]
	if d := take(t, first, "client"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("first process: %+v", d)
	}
	if d := take(t, second, "client"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("second process: %+v, want the budget the first left", d)
	}
	if d := take(t, first, "client"); d.Allowed {
		t.Fatalf("first process again: %+v, want refused: the second spent the rest", d)
	}
	if d := take(t, second, "client"); d.Allowed {
		t.Fatalf("second process again: %+v, want refused", d)
	}
}

// TestMemoryTableIsBounded: past maxKeys the least recently seen key is
// forgotten, and with it what it spent.
func TestMemoryTableIsBounded(t *testing.T) {
	t.Parallel()
	l, err := ratelimit.NewMemory(limit.Rate{Count: 1, Period: time.Hour}, 2)
	if err != nil {
		t.Fatal(err)
	}
	take(t, l, "a")
	if take(t, l, "a").Allowed {
		t.Fatal("a second event within the hour was allowed")
	}
	take(t, l, "b")
	take(t, l, "c") // pushes a out
	if !take(t, l, "a").Allowed {
		t.Fatal("a was still remembered beyond the table's bound")
	}
}

// TestRedisDownIsAnError: a Redis that does not answer is an error by the
// caller's deadline, never a decision.
func TestRedisDownIsAnError(t *testing.T) {
	t.Parallel()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	_ = listener.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	l, err := ratelimit.NewRedis(client, limit.Rate{Count: 1, Period: time.Second}, "down:")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if d, err := l.Take(ctx, "k"); err == nil {
		t.Fatalf("Take with Redis down: %+v, want an error", d)
	}
}

func TestNewRefusesNoRate(t *testing.T) {
	t.Parallel()
	// Finer than a microsecond per event: it would round to no interval.
	if _, err := ratelimit.NewMemory(limit.Rate{Count: 2_000_000, Period: time.Millisecond}, 10); err == nil {
		t.Error("NewMemory accepted a rate finer than its resolution")
	}
	if _, err := ratelimit.NewMemory(limit.Rate{}, 10); err == nil {
		t.Error("NewMemory took a zero rate")
	}
	if _, err := ratelimit.NewRedis(redis.NewClient(&redis.Options{}), limit.Rate{Count: 1}, ""); err == nil {
		t.Error("NewRedis took a zero period")
	}
}
