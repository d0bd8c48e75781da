package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
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
//
// Each process keeps near copies of the entries it read or wrote last, with
// their generation, and follows the invalidations on a Redis Pub/Sub channel
// (see listen): Invalidate increments the counter and publishes the new
// generation in one script, so no subscriber can see the one without the
// other. A near copy of the generation the process knows as current is served
// with no round trip to Redis, and only while the subscription is live:
// something (a message, the answer to a ping, a subscription) was heard on it
// within liveWithin. What a read sees, then:
//
//   - in the process that invalidates, nothing loaded before the invalidation,
//     ever: Invalidate raises the generation the process knows before it
//     returns;
//   - in another process, nothing loaded before an invalidation once its
//     message has arrived, a fraction of a millisecond on a local network;
//   - while the subscription is silent or broken, every Get reads the
//     generation from Redis as it would without near copies, at most
//     liveWithin after the subscription was last heard.
//
// Close ends the subscription; the client stays the caller's to close.
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
	// generation. nearEpoch counts the times they were all dropped because
	// the subscription was lost or made anew: a copy read from Redis in an
	// earlier epoch may come from a Redis that has been replaced since, and
	// is not kept (see keepNear).
	nearMu    sync.Mutex
	near      map[string]nearEntry
	nearEpoch uint64

	// knownGeneration is the highest generation this process has heard of
	// since the subscription was last made: by its own Invalidate, by a
	// message, or by reading the counter after subscribing. While the
	// subscription is live it is never below the counter in Redis but for the
	// time a message takes to arrive.
	knownGeneration atomic.Uint64
	// subscribed is set once the generation has been read after the last
	// subscription, and cleared on any error of the subscription; lastHeard
	// is when (unix nanoseconds) anything was last heard on it.
	subscribed atomic.Bool
	lastHeard  atomic.Int64

	listener *listener
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
	c.listener = startListener(c)
	return c, nil
}

// Close ends the subscription to the invalidations and waits for its
// goroutine; from then on every Get reads the generation from Redis.
func (c *Redis) Close() error {
	c.listener.stop()
	return nil
}

func (c *Redis) generationKey() string { return c.prefix + ":generation" }

// invalidationsChannel is where Invalidate publishes each new generation.
func (c *Redis) invalidationsChannel() string { return c.prefix + ":invalidations" }

func (c *Redis) entryKey(key string) string { return c.prefix + ":entry:" + key }

// entryHeader is the size of the generation written in front of an entry.
const entryHeader = 8

// Get serves the near copy of key with no round trip when the subscription is
// live and the copy is of the generation the process knows as current.
// Otherwise it reads the current generation and, unless the near copy of key
// is of that generation, the generation and the entry together with one MGET,
// which Redis runs as one command: both come from the same moment, on either
// side of any Invalidate.
func (c *Redis) Get(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	now := time.Now()
	near, ok := c.nearCopy(key, now)
	if ok && c.live(now) {
		if near.generation == c.knownGeneration.Load() {
			return near.value, near.generation, true, nil
		}
		// Invalidated, as far as this process has heard: the generation
		// alone would not do.
		return c.get(ctx, key)
	}
	if ok {
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

// live reports whether the subscription to the invalidations was heard from
// within liveWithin of now, since it was last made.
func (c *Redis) live(now time.Time) bool {
	return c.subscribed.Load() && now.UnixNano()-c.lastHeard.Load() < int64(liveWithin)
}

// raiseKnownGeneration makes generation known, unless a higher one is.
func (c *Redis) raiseKnownGeneration(generation uint64) {
	for {
		known := c.knownGeneration.Load()
		if generation <= known || c.knownGeneration.CompareAndSwap(known, generation) {
			return
		}
	}
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

func (c *Redis) nearCopy(key string, now time.Time) (nearEntry, bool) {
	c.nearMu.Lock()
	defer c.nearMu.Unlock()
	near, ok := c.near[key]
	if ok && !now.Before(near.expires) {
		delete(c.near, key)
		return nearEntry{}, false
	}
	return near, ok
}

// currentNearEpoch is to be taken before reading from Redis what keepNear
// will keep.
func (c *Redis) currentNearEpoch() uint64 {
	c.nearMu.Lock()
	defer c.nearMu.Unlock()
	return c.nearEpoch
}

// keepNear keeps a near copy of what was read from or written to Redis since
// epoch. If the near copies were dropped in the meantime, the Redis it came
// from may be gone, replaced by an empty one: such a copy is not kept.
func (c *Redis) keepNear(key string, epoch uint64, near nearEntry) {
	c.nearMu.Lock()
	defer c.nearMu.Unlock()
	if epoch != c.nearEpoch {
		return
	}
	if len(c.near) >= maxNearEntries {
		clear(c.near)
	}
	c.near[key] = near
}

// dropNearCopies forgets every near copy and begins a new epoch.
func (c *Redis) dropNearCopies() {
	c.nearMu.Lock()
	defer c.nearMu.Unlock()
	clear(c.near)
	c.nearEpoch++
}

// get reads the generation and the entry, and how long the entry has left,
// in one round trip, and keeps a near copy of a hit.
func (c *Redis) get(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	var (
		read  *redis.SliceCmd
		ttl   *redis.DurationCmd
		epoch = c.currentNearEpoch()
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
		c.keepNear(key, epoch, nearEntry{generation: generation, value: value, expires: time.Now().Add(left)})
	}
	return value, generation, true, nil
}

// Set stores value as loaded in generation. A late writer from an older
// generation may replace a newer entry; that costs a miss, never a stale hit.
func (c *Redis) Set(ctx context.Context, key string, generation uint64, value []byte) error {
	entry := make([]byte, entryHeader+len(value))
	binary.BigEndian.PutUint64(entry, generation)
	copy(entry[entryHeader:], value)
	epoch := c.currentNearEpoch()
	if err := c.client.Set(ctx, c.entryKey(key), entry, c.ttl).Err(); err != nil {
		return err
	}
	c.keepNear(key, epoch, nearEntry{generation: generation, value: value, expires: time.Now().Add(c.ttl)})
	return nil
}

type invalidateCall struct{ groupcommit.Pending }

// Invalidate starts a new generation. The increment that serves a call is
// sent after the call arrived, so whatever was cached before the call is dead
// once it returns, as if it had sent its own; and this process knows the new
// generation before it returns, so not even its own near copies outlive it.
func (c *Redis) Invalidate(ctx context.Context) error {
	call := &invalidateCall{groupcommit.NewPending(ctx)}
	c.invalidations.Submit(call)
	return call.Await()
}

// incrementAndPublish increments the generation and publishes the new one on
// the invalidations channel in one script, which Redis runs as one command: a
// subscriber hears of every increment, and of none before it is made.
//
// A counter that is missing (a Redis restarted empty, a flush, an eviction)
// starts again from Redis's clock in microseconds, not from 1: above every
// number the counter gave before, unless it gave more than one a microsecond.
// So a number is never given twice, and a copy or an entry stamped with an
// old one can never pass for current, whether or not any process saw the
// counter go. The numbers are written with %.0f: Lua's own conversion of a
// number to a string keeps 14 digits, fewer than a clock in microseconds has.
var incrementAndPublish = redis.NewScript(`
local generation = redis.call('INCR', KEYS[1])
if generation == 1 then
  local now = redis.call('TIME')
  generation = tonumber(now[1]) * 1000000 + tonumber(now[2])
  redis.call('SET', KEYS[1], string.format('%.0f', generation))
end
redis.call('PUBLISH', ARGV[1], string.format('%.0f', generation))
return generation
`)

func (c *Redis) incrementGeneration(ctx context.Context, calls []*invalidateCall) {
	generation, err := incrementAndPublish.Run(ctx, c.client, []string{c.generationKey()}, c.invalidationsChannel()).Uint64()
	if err == nil {
		c.raiseKnownGeneration(generation)
	} else {
		// The increment may or may not have happened, and Redis may be
		// hanging: whatever this process holds may be stale from now on, so
		// the next reads ask Redis (and, failing, the store).
		c.dropNearCopies()
	}
	for _, call := range calls {
		call.Settle(err)
	}
}

// Ping checks that Redis answers.
func (c *Redis) Ping(ctx context.Context) error {
	return c.client.Ping(ctx).Err()
}
