package transport

import (
	"context"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// GoChannel carries messages inside this process. Publish blocks until
// the handler has acknowledged the message, so a command the API accepted has
// been applied by the time the API answers: there is no queue for a crash or a
// shutdown to lose. It has no consumer groups: run one process.
type GoChannel struct {
	pubSub *gochannel.GoChannel
}

var _ Transport = (*GoChannel)(nil)

func NewGoChannel(logger watermill.LoggerAdapter) *GoChannel {
	return &GoChannel{pubSub: gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, logger)}
}

// Synchronous is a transport whose Publish returns only once the handler has
// acknowledged the message, so that what the handler did can be read as soon
// as Publish returns.
type Synchronous interface {
	DeliversBeforePublishReturns() bool
}

var _ Synchronous = (*GoChannel)(nil)

// DeliversBeforePublishReturns is true: Publish blocks until the ack.
func (t *GoChannel) DeliversBeforePublishReturns() bool { return true }

func (t *GoChannel) Publisher() message.Publisher { return t.pubSub }

// Subscriber returns the shared pub/sub with a no-op Close: the router closes
// its subscribers, and closing this one would close the publisher with it.
func (t *GoChannel) Subscriber(string) (message.Subscriber, error) {
	return keepOpenSubscriber{t.pubSub}, nil
}

func (t *GoChannel) Ping(context.Context) error { return nil }

func (t *GoChannel) Close() error { return t.pubSub.Close() }

type keepOpenSubscriber struct {
	message.Subscriber
}

func (keepOpenSubscriber) Close() error { return nil }
