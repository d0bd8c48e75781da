// Package ratelimit holds the rate limiters of app/limit: Redis, shared by
// every process that uses one Redis, and Memory, a process's own.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/techradar/techradar/app/limit"
)

// DefaultMaxKeys is how many keys a Memory limiter remembers by default.
const DefaultMaxKeys = 10_000

// Memory limits in the process: one golang.org/x/time/rate token bucket per
// key (the same semantics as Redis's GCRA: a burst of Count, then one event
// every Period/Count), in an LRU table of at most maxKeys keys. The table is
// bounded because the keys come from clients (addresses, numbers): without a
// bound anyone could grow it without end by sending from many addresses. A key
// pushed out forgets what it spent, so the cost of the bound is at worst a
// fresh budget for the least recently seen client, never a refusal.
type Memory struct {
	rate     limit.Rate
	every    rate.Limit
	limiters *lru.Cache[string, *rate.Limiter]
}

// NewMemory limits every key to r, remembering at most maxKeys keys.
func NewMemory(r limit.Rate, maxKeys int) (*Memory, error) {
	if r.Count < 1 || r.Period/time.Duration(max(1, r.Count)) < limit.Resolution {
		return nil, fmt.Errorf("rate limit: %s is not a rate", r)
	}
	limiters, err := lru.New[string, *rate.Limiter](maxKeys)
	if err != nil {
		return nil, fmt.Errorf("rate limit: %w", err)
	}
	return &Memory{rate: r, every: rate.Every(r.Period / time.Duration(r.Count)), limiters: limiters}, nil
}

// Take counts one event for key if its bucket has a token.
func (m *Memory) Take(_ context.Context, key string) (limit.Decision, error) {
	bucket, ok := m.limiters.Get(key)
	if !ok {
		// Two callers may both miss; PeekOrAdd gives both the first bucket.
		fresh := rate.NewLimiter(m.every, m.rate.Count)
		if previous, found, _ := m.limiters.PeekOrAdd(key, fresh); found {
			bucket = previous
		} else {
			bucket = fresh
		}
	}
	now := time.Now()
	allowed := bucket.AllowN(now, 1)
	tokens := bucket.TokensAt(now)
	interval := float64(m.rate.Period) / float64(m.rate.Count)
	decision := limit.Decision{
		Allowed:    allowed,
		Limit:      m.rate.Count,
		Remaining:  max(0, int(math.Floor(tokens))),
		ResetAfter: time.Duration(math.Max(0, float64(m.rate.Count)-tokens) * interval),
	}
	if !allowed {
		decision.RetryAfter = time.Duration(math.Max(0, 1-tokens) * interval)
	}
	return decision, nil
}
