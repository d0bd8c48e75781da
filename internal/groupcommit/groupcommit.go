// Package groupcommit joins the writes that arrive while earlier ones are
// being committed into one commit. The SQL store uses it for its transactions
// and the Redis cache for its invalidations.
package groupcommit

import (
	"context"
	"sync"
	"time"

	"github.com/techradar/techradar/internal/growstack"
)

// Committer joins the writes that arrive while earlier ones are being
// committed into one transaction, so that under load a commit, and the disk
// flush that makes it durable, is shared by many commands instead of paid by
// each. Nothing waits for a batch to fill: a write that finds a transaction
// slot free starts at once, alone if it is alone; only the writes that queue
// behind busy slots are joined.
//
// It keeps no goroutine while idle: a goroutine per busy slot drains the queue
// and ends when the queue is empty.
type Committer[T Call] struct {
	// maxBatch bounds the writes of one transaction.
	maxBatch int
	// maxInFlight bounds the transactions open at once.
	maxInFlight int
	// commit writes a batch and settles every call in it.
	commit func(ctx context.Context, batch []T)

	mu       sync.Mutex
	queue    []T
	inFlight int
	// flushing counts the batches in flight, for the store to wait on.
	flushing *sync.WaitGroup
}

// Call is one write waiting in a Committer.
type Call interface {
	// abandoned reports whether the caller stopped waiting before its write
	// was started; such a write is dropped.
	Abandoned() bool
}

// MaxBatch is a batch size that suits the writes of techradar: enough to share
// a commit among all the handlers of a busy process, small enough for a
// statement or two of ordinary size.
const MaxBatch = 128

// batchTimeout bounds one batch's transaction, retries included. A
// batch is shared by many callers, so it runs on a context of its own.
const batchTimeout = 30 * time.Second

// New builds a Committer that commits with commit, at most maxBatch calls a
// batch and maxInFlight batches at once; flushing counts the batches in flight.
func New[T Call](maxBatch, maxInFlight int, flushing *sync.WaitGroup, commit func(ctx context.Context, batch []T)) *Committer[T] {
	return &Committer[T]{maxBatch: max(maxBatch, 1), maxInFlight: max(maxInFlight, 1), flushing: flushing, commit: commit}
}

// Submit queues call; it is settled once its batch has committed or failed.
func (g *Committer[T]) Submit(call T) {
	g.mu.Lock()
	g.queue = append(g.queue, call)
	if g.inFlight == g.maxInFlight {
		g.mu.Unlock()
		return
	}
	g.inFlight++
	batch := g.takeLocked()
	g.flushing.Add(1)
	g.mu.Unlock()
	go g.flush(batch)
}

func (g *Committer[T]) flush(batch []T) {
	defer g.flushing.Done()
	// A batch runs on a goroutine of its own down to the database driver:
	// grow its stack once, while it is shallow.
	growstack.Grow()
	for {
		live := batch[:0]
		for _, call := range batch {
			if !call.Abandoned() {
				live = append(live, call)
			}
		}
		if len(live) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
			g.commit(ctx, live)
			cancel()
		}

		g.mu.Lock()
		if len(g.queue) == 0 {
			g.inFlight--
			g.mu.Unlock()
			return
		}
		batch = g.takeLocked()
		g.mu.Unlock()
	}
}

func (g *Committer[T]) takeLocked() []T {
	n := min(len(g.queue), g.maxBatch)
	batch := make([]T, n)
	copy(batch, g.queue)
	rest := copy(g.queue, g.queue[n:])
	clear(g.queue[rest:])
	g.queue = g.queue[:rest]
	return batch
}

// Pending is what every Call embeds: the caller's context and a
// channel closed once the call is settled.
type Pending struct {
	ctx  context.Context
	done chan struct{}
	err  error
}

func NewPending(ctx context.Context) Pending {
	return Pending{ctx: ctx, done: make(chan struct{})}
}

// Abandoned reports whether the caller stopped waiting.
func (c *Pending) Abandoned() bool { return c.ctx.Err() != nil }

// Context is the caller's context.
func (c *Pending) Context() context.Context { return c.ctx }

// Settle records the outcome of the call and wakes its caller.
func (c *Pending) Settle(err error) {
	c.err = err
	close(c.done)
}

// Await waits for the call to be settled or its caller to give up. A caller
// that gives up after its batch started may find its write applied: every
// write that goes through a Committer is idempotent.
func (c *Pending) Await() error {
	select {
	case <-c.done:
		return c.err
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}
