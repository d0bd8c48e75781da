package cache

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/internal/periodic"
)

const (
	// pingAfterSilence is how long the subscription may stay silent before a
	// PING asks Redis whether it is still there.
	pingAfterSilence = 250 * time.Millisecond
	// liveWithin is how recently the subscription must have been heard for a
	// near copy to be served without asking Redis: the longest a process
	// whose subscription went silent serves an entry another process has
	// invalidated.
	liveWithin = time.Second
	// resubscribeAfterSilence is how long a subscription may stay silent,
	// pings unanswered, before it is dropped for a new connection: a
	// connection whose peer vanished without closing it would otherwise wait
	// for TCP to give up, many minutes.
	resubscribeAfterSilence = 3 * time.Second
	// readGenerationTimeout bounds the read of the generation after a
	// subscription.
	readGenerationTimeout = time.Second
	// firstBackoff and lastBackoff bound the wait after an error of the
	// subscription, doubled at each error in a row.
	firstBackoff = 50 * time.Millisecond
	lastBackoff  = time.Second
)

// listener follows the invalidations channel of one Redis cache on a
// connection of its own, and keeps the cache's knownGeneration, subscribed and
// lastHeard.
//
// Why a number heard on the channel can be trusted against a near copy, even
// when Redis loses its counter (a restart, a flush, an eviction): the script
// that increments never gives a number twice (see incrementAndPublish), so a
// copy stamped with an old number is behind every later one, never current.
// And besides:
//
//   - after every subscription (the first, and every one go-redis makes again
//     on a new connection) the listener drops every near copy, sets the known
//     generation to zero, reads the counter and only then marks the
//     subscription live. An increment made before the subscription is in what
//     it reads; one made after is published to it, since the script that
//     increments also publishes. So once live, the known generation is never
//     below the counter but for the time a message takes.
//   - the known generation is replaced, not raised, by what is read after a
//     subscription: a Redis restarted empty has no counter until its first
//     increment. The old one's numbers can only make known too high, which
//     costs misses, never a stale hit (an Invalidate whose increment reached
//     the old Redis may still raise it a moment after).
//   - a restart closes the subscription's connection, so it is noticed before
//     anything can be read from the new Redis on that connection. Near copies
//     are dropped then and again at the next subscription, and a copy read
//     from Redis before a drop is not kept after it (see keepNear): no near
//     copy of the old Redis survives into the new one's numbers.
//   - a connection that stays open delivers every message in order, before the
//     answer to any later PING: hearing a pong means every invalidation
//     published before the ping has been heard.
type listener struct {
	cache  *Redis
	cancel context.CancelFunc
	done   chan struct{}

	// mu guards pubsub and stopped: stop closes the current subscription to
	// end a receive under way at once.
	mu      sync.Mutex
	pubsub  *redis.PubSub
	stopped bool
}

// startListener subscribes cache to its invalidations until stop.
func startListener(cache *Redis) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{cache: cache, cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

// stop ends the subscription and waits for the listener to return. It may be
// called more than once.
func (l *listener) stop() {
	// Cancelled before taking mu, which a subscription being dialled holds:
	// the dial ends with the context instead of running out its retries.
	l.cancel()
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		if l.pubsub != nil {
			_ = l.pubsub.Close()
		}
	}
	l.mu.Unlock()
	<-l.done
}

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	defer l.cache.subscribed.Store(false)
	for {
		pubsub := l.subscribe(ctx)
		if pubsub == nil {
			return
		}
		ended := l.follow(ctx, pubsub)
		l.loseSubscription()
		_ = pubsub.Close()
		if ended {
			return
		}
	}
}

// subscribe opens a subscription, or returns nil once stopped. The
// confirmation comes later, through the receive.
func (l *listener) subscribe(ctx context.Context) *redis.PubSub {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return nil
	}
	// A failure to connect is not reported here: the first receive tries again.
	l.pubsub = l.cache.client.Subscribe(ctx, l.cache.invalidationsChannel())
	return l.pubsub
}

// loseSubscription stops serving near copies without asking Redis, and drops
// them: what was published while the subscription was away is unknown.
func (l *listener) loseSubscription() {
	l.cache.subscribed.Store(false)
	l.cache.dropNearCopies()
}

// follow receives on pubsub until it has been silent too long, which returns
// false for a new subscription, or until the listener is stopped or the
// client closed, which returns true. After an error go-redis connects and
// subscribes again at the next receive, after a backoff.
func (l *listener) follow(ctx context.Context, pubsub *redis.PubSub) (ended bool) {
	var (
		backoff   = firstBackoff
		mustRead  = false
		lastHeard = time.Now()
	)
	for {
		received, err := pubsub.ReceiveTimeout(ctx, pingAfterSilence)
		switch {
		case ctx.Err() != nil || errors.Is(err, redis.ErrClosed):
			return true
		case isTimeout(err):
			if time.Since(lastHeard) >= resubscribeAfterSilence {
				return false
			}
			err = pubsub.Ping(ctx)
		case err == nil:
			lastHeard = time.Now()
			l.cache.lastHeard.Store(lastHeard.UnixNano())
			switch received := received.(type) {
			case *redis.Subscription:
				// A new connection: what was published before it is unknown.
				l.loseSubscription()
				l.cache.knownGeneration.Store(0)
				mustRead = true
			case *redis.Message:
				l.heard(received.Payload)
			}
		}
		if err != nil && !isTimeout(err) {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return true
			}
			l.loseSubscription()
			mustRead = false
			if !periodic.Sleep(ctx, backoff) {
				return true
			}
			backoff = min(2*backoff, lastBackoff)
			continue
		}
		if mustRead {
			if l.readGeneration(ctx) == nil {
				mustRead = false
				backoff = firstBackoff
				l.cache.subscribed.Store(true)
			}
		}
	}
}

// heard takes in a published generation. A payload that is not one (someone
// else publishing on the channel) drops the near copies, as an invalidation
// of unknown number would.
func (l *listener) heard(payload string) {
	generation, err := parseGeneration(payload)
	if err != nil {
		l.cache.dropNearCopies()
		return
	}
	l.cache.raiseKnownGeneration(generation)
}

// readGeneration reads the counter after a subscription, and makes it known
// unless a higher number was heard since.
func (l *listener) readGeneration(ctx context.Context) error {
	readCtx, cancel := context.WithTimeout(ctx, readGenerationTimeout)
	defer cancel()
	generation, err := l.cache.generation(readCtx)
	if err != nil {
		return err
	}
	l.cache.raiseKnownGeneration(generation)
	return nil
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}
