package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/app/limit"
)

// Redis limits in Redis with redis_rate's GCRA script: one key per limited
// client, updated atomically by the script, so every process on the same
// Redis spends one budget. Redis expires a key once its budget is whole again,
// so the keys kept are bounded by the clients active within one Period.
type Redis struct {
	limiter *redis_rate.Limiter
	rate    redis_rate.Limit
	count   int
	prefix  string
}

// NewRedis limits every key to r in client's Redis, under keyPrefix (which
// keeps apart the deployments and the limits that share one Redis).
func NewRedis(client redis.UniversalClient, r limit.Rate, keyPrefix string) (*Redis, error) {
	if r.Count < 1 || r.Period/time.Duration(max(1, r.Count)) < limit.Resolution {
		return nil, fmt.Errorf("rate limit: %s is not a rate", r)
	}
	return &Redis{
		limiter: redis_rate.NewLimiter(client),
		rate:    redis_rate.Limit{Rate: r.Count, Burst: r.Count, Period: r.Period},
		count:   r.Count,
		prefix:  keyPrefix,
	}, nil
}

// Take counts one event for key if the budget in Redis allows it. It waits for
// Redis no longer than ctx allows.
func (l *Redis) Take(ctx context.Context, key string) (limit.Decision, error) {
	res, err := l.limiter.Allow(ctx, l.prefix+key, l.rate)
	if err != nil {
		return limit.Decision{}, fmt.Errorf("rate limit in Redis: %w", err)
	}
	return limit.Decision{
		Allowed:    res.Allowed > 0,
		Limit:      l.count,
		Remaining:  max(0, res.Remaining),
		RetryAfter: max(0, res.RetryAfter),
		ResetAfter: max(0, res.ResetAfter),
	}, nil
}
