package transport

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Transport is a pub/sub backend: one publisher for the process, and one
// subscriber per handler, subscribed as that handler's consumer group so that
// the workers sharing a group share its messages.
type Transport interface {
	Publisher() message.Publisher
	// Subscriber subscribes as consumerGroup. The router closes it on shutdown.
	Subscriber(consumerGroup string) (message.Subscriber, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close closes the publisher and whatever the transport holds; call it after
	// the router has closed.
	Close() error
}

// Maintainer is a transport that keeps its backend bounded itself: Clean
// removes, in a few short steps, the messages of the topics this process uses
// that every consumer group of the topic is done with. Every worker may run it
// at once. GoChannel keeps nothing once handled and Kafka leaves retention to
// the broker, so neither is one.
type Maintainer interface {
	Clean(ctx context.Context) (CleanReport, error)
}

// CleanReport is what one Clean removed, per topic.
type CleanReport struct {
	// Removed counts every message removed.
	Removed map[string]int64
	// Dropped counts the messages among them that some group had not read
	// yet: only a cap on a topic's length (REDISSTREAM_MAX_LEN) drops those.
	Dropped map[string]int64
}

func newCleanReport() CleanReport {
	return CleanReport{Removed: map[string]int64{}, Dropped: map[string]int64{}}
}

// add counts removed and dropped messages of topic, if any.
func (r CleanReport) add(topic string, removed, dropped int64) {
	if removed > 0 {
		r.Removed[topic] += removed
	}
	if dropped > 0 {
		r.Dropped[topic] += dropped
	}
}

// cancelOnClose is a context of parent that also ends once closing is
// closed: a subscription's work stops with its own context or with the
// transport, whichever ends first. The watch ends with the context.
func cancelOnClose(parent context.Context, closing <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
