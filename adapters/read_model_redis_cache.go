package adapters

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/app/query"
)

// ReadModelRedisCache keeps the read-model cache in Redis, shared by every API
// process. Entries live under a generation number that Invalidate increments:
// an entry written for an old generation is never read again and expires by TTL.
type ReadModelRedisCache struct {
	client *redis.Client
	prefix string
	ttl    time.Duration
}

var _ query.ReadModelCache = (*ReadModelRedisCache)(nil)

// getInGeneration reads the current generation and the entry of that generation
// in one round trip, so that the two cannot come from either side of an Invalidate.
var getInGeneration = redis.NewScript(`
local generation = redis.call('GET', KEYS[1]) or '0'
local value = redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])
return {generation, value}
`)

// NewReadModelRedisCache uses client under keys starting with prefix; entries
// expire after ttl even when nothing invalidates them.
func NewReadModelRedisCache(client *redis.Client, prefix string, ttl time.Duration) (*ReadModelRedisCache, error) {
	if client == nil {
		return nil, errors.New("nil redis client")
	}
	if prefix == "" {
		return nil, errors.New("empty key prefix")
	}
	if ttl <= 0 {
		return nil, errors.New("ttl must be positive")
	}
	return &ReadModelRedisCache{client: client, prefix: prefix, ttl: ttl}, nil
}

func (c *ReadModelRedisCache) generationKey() string { return c.prefix + ":generation" }

func (c *ReadModelRedisCache) entryKey(generation uint64, key string) string {
	return c.prefix + ":" + strconv.FormatUint(generation, 10) + ":" + key
}

func (c *ReadModelRedisCache) Get(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	res, err := getInGeneration.Run(ctx, c.client, []string{c.generationKey()}, c.prefix+":", key).Slice()
	if err != nil {
		return nil, 0, false, err
	}
	if len(res) < 1 {
		return nil, 0, false, fmt.Errorf("unexpected reply %v", res)
	}
	generationText, _ := res[0].(string)
	generation, err := strconv.ParseUint(generationText, 10, 64)
	if err != nil {
		return nil, 0, false, fmt.Errorf("bad generation %q: %w", generationText, err)
	}
	if len(res) < 2 || res[1] == nil {
		return nil, generation, false, nil
	}
	value, ok := res[1].(string)
	if !ok {
		return nil, generation, false, fmt.Errorf("unexpected value type %T", res[1])
	}
	return []byte(value), generation, true, nil
}

func (c *ReadModelRedisCache) Set(ctx context.Context, key string, generation uint64, value []byte) error {
	return c.client.Set(ctx, c.entryKey(generation, key), value, c.ttl).Err()
}

func (c *ReadModelRedisCache) Invalidate(ctx context.Context) error {
	return c.client.Incr(ctx, c.generationKey()).Err()
}

// Ping checks that Redis answers.
func (c *ReadModelRedisCache) Ping(ctx context.Context) error {
	return c.client.Ping(ctx).Err()
}
