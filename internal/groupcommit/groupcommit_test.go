package groupcommit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type testCall struct {
	Pending
	n int
}

// recordingCommit commits batches by recording their sizes; while hold is
// open, every commit waits for it.
type recordingCommit struct {
	mu       sync.Mutex
	sizes    []int
	hold     chan struct{}
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func (r *recordingCommit) commit(_ context.Context, batch []*testCall) {
	n := r.inFlight.Add(1)
	for {
		seen := r.maxSeen.Load()
		if n <= seen || r.maxSeen.CompareAndSwap(seen, n) {
			break
		}
	}
	<-r.hold
	r.mu.Lock()
	r.sizes = append(r.sizes, len(batch))
	r.mu.Unlock()
	r.inFlight.Add(-1)
	for _, call := range batch {
		call.Settle(nil)
	}
}

// newHeldGroupCommit is a group commit whose commits record their batches and
// wait until rec.hold is closed; flushing.Wait waits for them all.
func newHeldGroupCommit(maxBatch, maxInFlight int) (g *Committer[*testCall], rec *recordingCommit, flushing *sync.WaitGroup) {
	flushing = new(sync.WaitGroup)
	rec = &recordingCommit{hold: make(chan struct{})}
	return New(maxBatch, maxInFlight, flushing, rec.commit), rec, flushing
}

func submitAll(g *Committer[*testCall], ctx context.Context, from, to int) []*testCall {
	calls := make([]*testCall, 0, to-from)
	for i := from; i < to; i++ {
		call := &testCall{Pending: NewPending(ctx), n: i}
		g.Submit(call)
		calls = append(calls, call)
	}
	return calls
}

func TestGroupCommitJoinsTheCallsThatQueueBehindABusyTransaction(t *testing.T) {
	t.Parallel()
	g, rec, flushing := newHeldGroupCommit(4, 1)

	first := submitAll(g, context.Background(), 0, 1)
	waitFor(t, func() bool { return rec.inFlight.Load() == 1 })
	queued := submitAll(g, context.Background(), 1, 11)
	close(rec.hold)
	for _, call := range append(first, queued...) {
		if err := call.Await(); err != nil {
			t.Fatalf("call %d: %v", call.n, err)
		}
	}
	flushing.Wait()

	// The first call went alone, at once; the ten behind it in batches of at
	// most four.
	if want := []int{1, 4, 4, 2}; !slices.Equal(rec.sizes, want) {
		t.Fatalf("batch sizes = %v, want %v", rec.sizes, want)
	}
}

func TestGroupCommitBoundsTheTransactionsInFlight(t *testing.T) {
	t.Parallel()
	g, rec, flushing := newHeldGroupCommit(1, 3)

	calls := submitAll(g, context.Background(), 0, 20)
	waitFor(t, func() bool { return rec.inFlight.Load() == 3 })
	close(rec.hold)
	for _, call := range calls {
		if err := call.Await(); err != nil {
			t.Fatal(err)
		}
	}
	flushing.Wait()
	if got := rec.maxSeen.Load(); got != 3 {
		t.Fatalf("at most %d transactions were open at once, want 3", got)
	}
	if len(rec.sizes) != 20 {
		t.Fatalf("%d batches of one, want 20", len(rec.sizes))
	}
}

func TestGroupCommitDropsTheCallsAbandonedBeforeTheirBatch(t *testing.T) {
	t.Parallel()
	g, rec, flushing := newHeldGroupCommit(100, 1)

	first := submitAll(g, context.Background(), 0, 1)
	waitFor(t, func() bool { return rec.inFlight.Load() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := submitAll(g, ctx, 1, 4)
	kept := submitAll(g, context.Background(), 4, 6)
	cancel()
	for _, call := range abandoned {
		if err := call.Await(); !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned call: %v", err)
		}
	}
	close(rec.hold)
	for _, call := range append(first, kept...) {
		if err := call.Await(); err != nil {
			t.Fatal(err)
		}
	}
	flushing.Wait()
	if want := []int{1, 2}; !slices.Equal(rec.sizes, want) {
		t.Fatalf("batch sizes = %v, want %v", rec.sizes, want)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
