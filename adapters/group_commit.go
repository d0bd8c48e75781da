package adapters

import (
	"context"
	"sync"
	"time"
)

// groupCommit joins the writes that arrive while earlier ones are being
// committed into one transaction, so that under load a commit, and the disk
// flush that makes it durable, is shared by many commands instead of paid by
// each. Nothing waits for a batch to fill: a write that finds a transaction
// slot free starts at once, alone if it is alone; only the writes that queue
// behind busy slots are joined.
//
// It keeps no goroutine while idle: a goroutine per busy slot drains the queue
// and ends when the queue is empty.
type groupCommit[T groupCall] struct {
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

// groupCall is one write waiting in a groupCommit.
type groupCall interface {
	// abandoned reports whether the caller stopped waiting before its write
	// was started; such a write is dropped.
	abandoned() bool
}

// groupCommitTimeout bounds one batch's transaction, retries included. A
// batch is shared by many callers, so it runs on a context of its own.
const groupCommitTimeout = 30 * time.Second

func newGroupCommit[T groupCall](maxBatch, maxInFlight int, flushing *sync.WaitGroup, commit func(ctx context.Context, batch []T)) *groupCommit[T] {
	return &groupCommit[T]{maxBatch: max(maxBatch, 1), maxInFlight: max(maxInFlight, 1), flushing: flushing, commit: commit}
}

// submit queues call; it is settled once its batch has committed or failed.
func (g *groupCommit[T]) submit(call T) {
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

func (g *groupCommit[T]) flush(batch []T) {
	defer g.flushing.Done()
	for {
		live := batch[:0]
		for _, call := range batch {
			if !call.abandoned() {
				live = append(live, call)
			}
		}
		if len(live) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), groupCommitTimeout)
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

func (g *groupCommit[T]) takeLocked() []T {
	n := min(len(g.queue), g.maxBatch)
	batch := make([]T, n)
	copy(batch, g.queue)
	rest := copy(g.queue, g.queue[n:])
	clear(g.queue[rest:])
	g.queue = g.queue[:rest]
	return batch
}

// pendingCall is what every groupCall embeds: the caller's context and a
// channel closed once the call is settled.
type pendingCall struct {
	ctx  context.Context
	done chan struct{}
	err  error
}

func newPendingCall(ctx context.Context) pendingCall {
	return pendingCall{ctx: ctx, done: make(chan struct{})}
}

func (c *pendingCall) abandoned() bool { return c.ctx.Err() != nil }

func (c *pendingCall) settle(err error) {
	c.err = err
	close(c.done)
}

// await waits for the call to be settled or its caller to give up. A caller
// that gives up after its batch started may find its write applied: every
// write that goes through a groupCommit is idempotent.
func (c *pendingCall) await() error {
	select {
	case <-c.done:
		return c.err
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}
