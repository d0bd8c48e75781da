package query

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// ReadModelCache keeps serialized answers in generations. Invalidate starts a new
// generation; a value stored for an older generation is never returned again.
// That is what makes invalidation safe against a reader that loaded before it and
// stores after it (the stale-set race): that reader stores into a dead generation.
type ReadModelCache interface {
	// Get returns the value of key in the current generation, if there is one, and
	// the current generation, to be handed back to Set.
	Get(ctx context.Context, key string) (value []byte, generation uint64, found bool, err error)
	// Set stores value for key in generation; a no-op in effect when generation
	// is no longer current.
	Set(ctx context.Context, key string, generation uint64, value []byte) error
	// Invalidate makes every value stored so far unreachable.
	Invalidate(ctx context.Context) error
}

// loadTimeout bounds a load shared by several readers, which runs detached from
// the context of the reader that started it.
const loadTimeout = 10 * time.Second

// readThrough serves answers from the cache and loads them from the store on a
// miss. Concurrent misses of one key share one load. A failing cache is bypassed:
// answers then come from the store, marked as not cached.
type readThrough struct {
	cache  ReadModelCache
	logger *slog.Logger
	flight singleflight.Group
	// lastOutageLog is when (unix nanoseconds) a cache failure was last logged:
	// during an outage every read fails over, and one line per read would
	// drown the log.
	lastOutageLog atomic.Int64
}

// outageLogEvery is the most often a cache failure is logged.
const outageLogEvery = 10 * time.Second

func newReadThrough(cache ReadModelCache, logger *slog.Logger) *readThrough {
	if cache == nil {
		panic("nil cache")
	}
	if logger == nil {
		panic("nil logger")
	}
	return &readThrough{cache: cache, logger: logger}
}

func (rt *readThrough) logOutage(ctx context.Context, err error) {
	now, last := time.Now().UnixNano(), rt.lastOutageLog.Load()
	if now-last < int64(outageLogEvery) || !rt.lastOutageLog.CompareAndSwap(last, now) {
		return
	}
	rt.logger.WarnContext(ctx, "read model cache unavailable, reading the store", slog.Any("error", err))
}

// readThroughLoad returns the JSON of key's answer, and whether the cache had
// it. Answers are kept and handed out encoded: a cache hit costs no decoding,
// and the API serves the bytes as they are.
func readThroughLoad[T any](ctx context.Context, rt *readThrough, key string, load func(context.Context) (T, error)) ([]byte, bool, error) {
	raw, generation, found, err := rt.cache.Get(ctx, key)
	cacheUp := err == nil
	if err != nil {
		rt.logOutage(ctx, err)
	}
	if found {
		return raw, true, nil
	}

	flightKey := "uncached/" + key
	if cacheUp {
		flightKey = fmt.Sprintf("%d/%s", generation, key)
	}
	results := rt.flight.DoChan(flightKey, func() (any, error) {
		// Detached: the reader that started the load may go away while others wait.
		loadCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()

		v, err := load(loadCtx)
		if err != nil {
			return nil, err
		}
		encoded, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if cacheUp {
			if err := rt.cache.Set(loadCtx, key, generation, encoded); err != nil {
				rt.logger.WarnContext(ctx, "cannot fill the read model cache", slog.String("key", key), slog.Any("error", err))
			}
		}
		return encoded, nil
	})

	select {
	case r := <-results:
		if r.Err != nil {
			return nil, false, r.Err
		}
		return r.Val.([]byte), false, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}
