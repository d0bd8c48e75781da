package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/internal/groupcommit"
	"github.com/techradar/techradar/internal/settings"
)

// Redis keeps the read-model cache in Redis, shared by every API
// process. A counter holds the current generation, which Invalidate
// increments; each entry holds the generation it was loaded in. An entry is a
// hit only while its generation is the current one, so a reader that loaded
// before an invalidation and stores after it stores an entry no one will take.
type Redis struct {
	client *redis.Client
	prefix string
	ttl    time.Duration
	// invalidations joins the Invalidate calls that arrive while an increment
	// is on its way into the next one: under a stream of events, one
	// round trip serves many.
	invalidations *groupcommit.Committer[*invalidateCall]
	flushing      sync.WaitGroup

	// near holds the entries this process read or wrote last, with their
	// generation. A Get whose near copy is of the current generation reads
	// only the generation from Redis, a few bytes instead of the whole answer.
	// The generation is still read from Redis on every Get, so an invalidation
	// is seen exactly as soon as without the copies.
	nearMu sync.Mutex
	near   map[string]nearEntry
}

type nearEntry struct {
	generation uint64
	value      []byte
	// expires is when the entry expires in Redis: the copy goes with it.
	expires time.Time
}

// maxNearEntries bounds the near copies; past it they are all dropped. Answers
// are pages of the list, and a few pages are read far more than the others.
const maxNearEntries = 64

var _ query.ReadModelCache = (*Redis)(nil)

// RedisConfig names and ages the entries of the Redis cache. The
// configuration embeds it under CACHE_: the tags are the settings' flags,
// variables, defaults and help.
type RedisConfig struct {
	TTL       time.Duration `name:"ttl" env:"TTL" default:"10m" help:"Longest life of a cached answer, invalidated or not."`
	KeyPrefix string        `name:"key-prefix" env:"KEY_PREFIX" default:"techradar:readmodel" help:"Prefix of the read-model keys in Redis."`
	// BreakerCoolDown is how long the circuit stays open after a failure
	// before one call probes Redis again (see Breaker).
	BreakerCoolDown time.Duration `name:"breaker-cool-down" env:"BREAKER_COOL_DOWN" default:"1s" help:"After a Redis cache failure, how long reads skip Redis before one probes it again."`
}

// Check reports every setting out of range, naming its variable.
func (c RedisConfig) Check() error {
	var p settings.Problems
	p.Positive("CACHE_TTL", c.TTL)
	p.Positive("CACHE_BREAKER_COOL_DOWN", c.BreakerCoolDown)
	if c.KeyPrefix == "" {
		p.Add("CACHE_KEY_PREFIX", "is empty")
	}
	return p.Err()
}

// NewRedis uses client under keys starting with config.KeyPrefix; entries
// expire after config.TTL even when nothing invalidates them.
func NewRedis(client *redis.Client, config RedisConfig) (*Redis, error) {
	if client == nil {
		return nil, errors.New("nil redis client")
	}
	if err := config.Check(); err != nil {
		return nil, err
	}
	c := &Redis{client: client, prefix: config.KeyPrefix, ttl: config.TTL, near: map[string]nearEntry{}}
	c.invalidations = groupcommit.New(groupcommit.MaxBatch, 1, &c.flushing, c.incrementGeneration)
	return c, nil
}

func (c *Redis) generationKey() string { return c.prefix + ":generation" }

func (c *Redis) entryKey(key string) string { return c.prefix + ":entry:" + key }

// entryHeader is the size of the generation written in front of an entry.
const entryHeader = 8

// Get reads the current generation and, unless the near copy of key is of
// that generation, the generation and the entry together with one MGET, which
// Redis runs as one command: both come from the same moment, on either side of
// any Invalidate.
func (c *Redis) Get(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	if near, ok := c.nearCopy(key); ok {
		generation, err := c.generation(ctx)
		if err != nil {
			return nil, 0, false, err
		}
		if generation == near.generation {
			return near.value, generation, true, nil
		}
	}
	return c.get(ctx, key)
}

func (c *Redis) generation(ctx context.Context) (uint64, error) {
	text, err := c.client.Get(ctx, c.generationKey()).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return parseGeneration(text)
}

func parseGeneration(text string) (uint64, error) {
	generation, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad generation %q: %w", text, err)
	}
	return generation, nil
}

func (c *Redis) nearCopy(key string) (nearEntry, bool) {
	c.nearMu.Lock()
	defer c.nearMu.Unlock()
	near, ok := c.near[key]
	if ok && !time.Now().Before(near.expires) {
		delete(c.near, key)
		return nearEntry{}, false
	}
	return near, ok
}

func (c *Redis) keepNear(key string, near nearEntry) {
	c.nearMu.Lock()
	defer c.nearMu.Unlock()
	if len(c.near) >= maxNearEntries {
		clear(c.near)
	}
	c.near[key] = near
}

// get reads the generation and the entry, and how long the entry has left,
// in one round trip, and keeps a near copy of a hit.
func (c *Redis) get(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	var (
		read *redis.SliceCmd
		ttl  *redis.DurationCmd
	)
	_, err := c.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		read = pipe.MGet(ctx, c.generationKey(), c.entryKey(key))
		ttl = pipe.PTTL(ctx, c.entryKey(key))
		return nil
	})
	if err != nil {
		return nil, 0, false, err
	}
	values := read.Val()
	if len(values) != 2 {
		return nil, 0, false, fmt.Errorf("unexpected reply %v", values)
	}
	var generation uint64
	if text, ok := values[0].(string); ok {
		if generation, err = parseGeneration(text); err != nil {
			return nil, 0, false, err
		}
	}
	entry, ok := values[1].(string)
	if !ok || len(entry) < entryHeader || binary.BigEndian.Uint64([]byte(entry[:entryHeader])) != generation {
		return nil, generation, false, nil
	}
	value := []byte(entry[entryHeader:])
	if left := ttl.Val(); left > 0 {
		c.keepNear(key, nearEntry{generation: generation, value: value, expires: time.Now().Add(left)})
	}
	return value, generation, true, nil
}

// Set stores value as loaded in generation. A late writer from an older
// generation may replace a newer entry; that costs a miss, never a stale hit.
func (c *Redis) Set(ctx context.Context, key string, generation uint64, value []byte) error {
	entry := make([]byte, entryHeader+len(value))
	binary.BigEndian.PutUint64(entry, generation)
	copy(entry[entryHeader:], value)
	if err := c.client.Set(ctx, c.entryKey(key), entry, c.ttl).Err(); err != nil {
		return err
	}
	c.keepNear(key, nearEntry{generation: generation, value: value, expires: time.Now().Add(c.ttl)})
	return nil
}

type invalidateCall struct{ groupcommit.Pending }

// Invalidate starts a new generation. The increment that serves a call is
// sent after the call arrived, so whatever was cached before the call is dead
// once it returns, as if it had sent its own.
func (c *Redis) Invalidate(ctx context.Context) error {
	call := &invalidateCall{groupcommit.NewPending(ctx)}
	c.invalidations.Submit(call)
	return call.Await()
}

func (c *Redis) incrementGeneration(ctx context.Context, calls []*invalidateCall) {
	err := c.client.Incr(ctx, c.generationKey()).Err()
	for _, call := range calls {
		call.Settle(err)
	}
}

// Ping checks that Redis answers.
func (c *Redis) Ping(ctx context.Context) error {
	return c.client.Ping(ctx).Err()
}
