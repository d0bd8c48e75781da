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
