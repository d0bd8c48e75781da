package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/techradar/techradar/app/query"
)

// BreakableCache is a read-model cache that can be unreachable: the Redis
// cache, which Breaker guards.
type BreakableCache interface {
	query.ReadModelCache
	Ping(ctx context.Context) error
}

// ErrCacheUnavailable is what the calls refused while the circuit is open
// wrap, with gobreaker's own error.
var ErrCacheUnavailable = errors.New("read model cache unavailable")

// Breaker stops calling a cache that has just failed: without it, every read
// of an outage would wait for the Redis client's timeouts before falling back
// to the store. The first failure opens the circuit; while it is open Get,
// Set and Invalidate fail at once. After the cool-down one call at a time is
// let through as a probe, and the first that succeeds closes the circuit.
//
// An invalidation is never dropped: one that fails, through the circuit or
// through Redis, returns its error (the event handler is retried), and until
// an increment sent after it has succeeded, Get sends that increment before
// reading anything, so no entry older than the failed invalidation is served
// in the meantime, even once Redis is back and before the handler's retry.
type Breaker struct {
	cache   BreakableCache
	circuit *gobreaker.CircuitBreaker[struct{}]

	// owedMu guards the invalidations that failed (failedInvalidations counts
	// them) and how many of them a later successful increment has covered.
	owedMu              sync.Mutex
	failedInvalidations uint64
	paidInvalidations   uint64
}

var _ BreakableCache = (*Breaker)(nil)

// NewBreaker guards cache with a circuit that waits coolDown before probing
// again, and logs its changes of state.
func NewBreaker(cache BreakableCache, coolDown time.Duration, logger *slog.Logger) (*Breaker, error) {
	switch {
	case cache == nil:
		return nil, errors.New("nil cache")
	case coolDown <= 0:
		return nil, fmt.Errorf("breaker cool-down must be positive, got %s", coolDown)
	case logger == nil:
		return nil, errors.New("nil logger")
	}
	circuit := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "read model cache",
		MaxRequests: 1, // one probe at a time while half-open
		Timeout:     coolDown,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= 1 },
		// A caller that gave up says nothing about the cache.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			level := slog.LevelWarn
			if to == gobreaker.StateClosed {
				level = slog.LevelInfo
			}
			logger.Log(context.Background(), level, "circuit breaker changed state",
				slog.String("breaker", name), slog.String("from", from.String()), slog.String("to", to.String()))
		},
	})
	return &Breaker{cache: cache, circuit: circuit}, nil
}

// call runs op through the circuit; a refusal of the circuit wraps
// ErrCacheUnavailable.
func (b *Breaker) call(op func() error) error {
	_, err := b.circuit.Execute(func() (struct{}, error) { return struct{}{}, op() })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fmt.Errorf("%w: %w", ErrCacheUnavailable, err)
	}
	return err
}

// Get first sends the increment a failed invalidation still owes, then reads.
func (b *Breaker) Get(ctx context.Context, key string) (value []byte, generation uint64, found bool, err error) {
	if err := b.payOwedInvalidations(ctx); err != nil {
		return nil, 0, false, err
	}
	err = b.call(func() error {
		var getErr error
		value, generation, found, getErr = b.cache.Get(ctx, key)
		return getErr
	})
	return value, generation, found, err
}

func (b *Breaker) Set(ctx context.Context, key string, generation uint64, value []byte) error {
	return b.call(func() error { return b.cache.Set(ctx, key, generation, value) })
}

// Invalidate starts a new generation, or returns why it could not; then the
// invalidation is owed, and Get pays it before reading.
func (b *Breaker) Invalidate(ctx context.Context) error {
	err := b.call(func() error { return b.cache.Invalidate(ctx) })
	if err != nil {
		b.owedMu.Lock()
		b.failedInvalidations++
		b.owedMu.Unlock()
	}
	return err
}

// payOwedInvalidations sends one increment for every invalidation that failed
// so far. Only the failures counted before it was sent are covered by it: one
// counted later may have begun after it.
func (b *Breaker) payOwedInvalidations(ctx context.Context) error {
	b.owedMu.Lock()
	failed, paid := b.failedInvalidations, b.paidInvalidations
	b.owedMu.Unlock()
	if failed == paid {
		return nil
	}
	if err := b.call(func() error { return b.cache.Invalidate(ctx) }); err != nil {
		return fmt.Errorf("sending an invalidation that failed earlier: %w", err)
	}
	b.owedMu.Lock()
	b.paidInvalidations = max(b.paidInvalidations, failed)
	b.owedMu.Unlock()
	return nil
}

// Ping asks the cache itself, circuit or not: /readyz and the router's check
// of the dependencies report whether Redis answers now.
func (b *Breaker) Ping(ctx context.Context) error { return b.cache.Ping(ctx) }
