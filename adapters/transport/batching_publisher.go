package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/groupcommit"
)

// BatchingPublisherConfig bounds what a BatchingPublisher joins and holds.
type BatchingPublisherConfig struct {
	// MaxBatch bounds the messages of one joined publish; zero means
	// groupcommit.MaxBatch.
	MaxBatch int
	// MaxInFlight bounds the publishes in flight per topic; zero means one.
	MaxInFlight int
	// CloseTimeout bounds how long Close waits for the publishes in flight;
	// zero means DefaultBatchingPublisherCloseTimeout.
	CloseTimeout time.Duration
}

// DefaultBatchingPublisherCloseTimeout is how long Close waits for the
// publishes in flight unless told otherwise: longer than a publish to a
// dependency that answers, short enough not to hold a shutdown.
const DefaultBatchingPublisherCloseTimeout = 10 * time.Second

// batchingPublisherMaxTopics bounds the topics a BatchingPublisher keeps a
// queue for. The topics are the service's own, a handful; a publish to a
// topic beyond the bound goes alone, as it would without the decorator.
const batchingPublisherMaxTopics = 64

var errBatchingPublisherClosed = errors.New("batching publisher: closed")

// BatchingPublisher joins the one-message publishes that arrive while earlier
// ones to the same topic are in flight into one publish of many messages,
// which the Redis Streams publisher sends in one round trip (a pipeline of
// XADDs) and the SQL publisher in one transaction.
// Each HTTP request sends its command alone, so under load that round trip,
// not the command, is what a publish costs.
//
// It works like the store's group commit (internal/groupcommit): nothing
// waits for a batch to fill; a publish that finds a slot of its topic free
// goes at once, alone if it is alone; only the publishes queued behind busy
// slots are joined, up to MaxBatch a publish and MaxInFlight publishes per
// topic at once. A publish of several messages is already one round trip and
// goes through unchanged.
//
// Each caller gets the outcome of its own message: when a joined publish
// fails, each of its messages is published again alone, so that only the
// message at fault fails. A message of a failed joined publish may have been
// written already and is then written twice; that is harmless, for every
// message handler is idempotent (a redelivered command is skipped).
//
// A caller whose message context is done before its batch starts is dropped
// and gets the context's error; one whose context ends while its batch is in
// flight gets the error too, though its message may have been published, as
// with any publish cut short.
type BatchingPublisher struct {
	publisher    message.Publisher
	maxBatch     int
	maxInFlight  int
	closeTimeout time.Duration

	// mu is held shared while a publish is handed over and exclusively by
	// Close, so that nothing is added to flushing once Close waits for it.
	mu     sync.RWMutex
	closed bool
	// flushing counts the publishes in flight, for Close to wait on.
	flushing sync.WaitGroup

	topicsMu sync.Mutex
	topics   map[string]*groupcommit.Committer[*publishCall]
}

var _ message.Publisher = (*BatchingPublisher)(nil)

// NewBatchingPublisher joins the publishes to publisher. Close does not close
// publisher: its owner, the transport, does.
func NewBatchingPublisher(publisher message.Publisher, config BatchingPublisherConfig) (*BatchingPublisher, error) {
	if publisher == nil {
		return nil, errors.New("batching publisher: no publisher")
	}
	if config.MaxBatch < 0 || config.MaxInFlight < 0 || config.CloseTimeout < 0 {
		return nil, fmt.Errorf("batching publisher: negative bound in %+v", config)
	}
	if config.MaxBatch == 0 {
		config.MaxBatch = groupcommit.MaxBatch
	}
	if config.MaxInFlight == 0 {
		config.MaxInFlight = 1
	}
	if config.CloseTimeout == 0 {
		config.CloseTimeout = DefaultBatchingPublisherCloseTimeout
	}
	return &BatchingPublisher{
		publisher:    publisher,
		maxBatch:     config.MaxBatch,
		maxInFlight:  config.MaxInFlight,
		closeTimeout: config.CloseTimeout,
		topics:       map[string]*groupcommit.Committer[*publishCall]{},
	}, nil
}

// publishCall is one message waiting for its topic's next publish.
type publishCall struct {
	groupcommit.Pending
	message *message.Message
}

// Publish publishes messages on topic; a single message may share its
// publish with others published to topic at the same time.
func (p *BatchingPublisher) Publish(topic string, messages ...*message.Message) error {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return errBatchingPublisherClosed
	}
	var batches *groupcommit.Committer[*publishCall]
	if len(messages) == 1 {
		batches = p.batchesOf(topic)
	}
	if batches == nil {
		p.flushing.Add(1)
		p.mu.RUnlock()
		defer p.flushing.Done()
		return p.publisher.Publish(topic, messages...)
	}
	msg := messages[0]
	ctx := msg.Context()
	call := &publishCall{Pending: groupcommit.NewPending(ctx), message: msg}
	batches.Submit(call)
	p.mu.RUnlock()
	if err := call.Await(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return fmt.Errorf("publishing message %s to %s: %w", msg.UUID, topic, err)
		}
		return err
	}
	return nil
}

// batchesOf is topic's group of publishes, or nil when the publisher keeps
// as many topics as it may.
func (p *BatchingPublisher) batchesOf(topic string) *groupcommit.Committer[*publishCall] {
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	batches, ok := p.topics[topic]
	if !ok && len(p.topics) < batchingPublisherMaxTopics {
		batches = groupcommit.New(p.maxBatch, p.maxInFlight, &p.flushing, func(_ context.Context, calls []*publishCall) {
			p.publishBatch(topic, calls)
		})
		p.topics[topic] = batches
	}
	return batches
}

// publishBatch publishes the messages of calls in one publish and settles
// each call. The underlying publisher takes no context of the batch's own:
// each message carries its caller's.
func (p *BatchingPublisher) publishBatch(topic string, calls []*publishCall) {
	if len(calls) == 1 {
		calls[0].Settle(p.publisher.Publish(topic, calls[0].message))
		return
	}
	messages := make([]*message.Message, len(calls))
	for i, call := range calls {
		messages[i] = call.message
	}
	if err := p.publisher.Publish(topic, messages...); err == nil {
		for _, call := range calls {
			call.Settle(nil)
		}
		return
	}
	// One message, or its caller's context, may have failed the whole
	// publish: each message goes again alone, at the same time, as the
	// callers would have published them without this decorator. Those
	// already written by the failed publish are written twice, which the
	// idempotent handlers make harmless.
	var alone sync.WaitGroup
	for _, call := range calls {
		if call.Abandoned() {
			// Its caller has returned with its context's error.
			call.Settle(call.Context().Err())
			continue
		}
		alone.Go(func() { call.Settle(p.publisher.Publish(topic, call.message)) })
	}
	alone.Wait()
}

// Close refuses new publishes and waits, CloseTimeout at most, for those in
// flight. It does not close the underlying publisher.
func (p *BatchingPublisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.flushing.Wait()
		close(done)
	}()
	timer := time.NewTimer(p.closeTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		return fmt.Errorf("batching publisher: publishes still in flight after %s", p.closeTimeout)
	}
}
