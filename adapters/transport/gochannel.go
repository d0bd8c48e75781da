package transport

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/techradar/techradar/internal/settings"
)

// GoChannelConfig is the in-process transport's.
type GoChannelConfig struct {
	// Concurrency is how many messages of one topic are handed to the
	// handlers at once: the number of lanes.
	Concurrency int `name:"concurrency" env:"CONCURRENCY" default:"32" help:"Messages of one topic the in-process transport hands to their handler at once (TRANSPORT=gochannel); each request waits for its own command only, and the commands in flight share database transactions."`
}

// Check reports every setting out of range, naming its variable.
func (c GoChannelConfig) Check() error {
	var p settings.Problems
	if c.Concurrency < 1 || c.Concurrency > 256 {
		p.Add("GOCHANNEL_CONCURRENCY", "must be between 1 and 256, got %d", c.Concurrency)
	}
	return p.Err()
}

// GoChannel carries messages inside this process. Publish blocks until
// the handler has acknowledged the message, so a command the API accepted has
// been applied by the time the API answers: there is no queue for a crash or a
// shutdown to lose. It has no consumer groups: run one process.
//
// One Watermill GoChannel hands a topic's messages over one at a time: its
// Publish holds the topic's lock until every subscriber acked. So the
// transport runs Concurrency of them side by side, the lanes, each with the
// topics under their own names. A Publish takes a lane of its topic that no
// other Publish holds, waiting for one if all are busy, and keeps it until
// its messages are acked; a subscription subscribes to the topic on every
// lane and merges them, and the router starts a handler per message it
// receives. So up to Concurrency messages of a topic are in the handler at
// once, each Publish still returns only after its own messages' acks, and
// the messages of one Publish arrive in order, one after the other.
//
// A free lane rather than the next one in turn: a message whose handler keeps
// failing holds its lane through the retries, and round robin would queue
// every Concurrency-th Publish of the topic behind it.
type GoChannel struct {
	lanes []*gochannel.GoChannel
	// closing ends the waits for a lane and the subscriptions' merging.
	closing   chan struct{}
	closeOnce sync.Once

	mu sync.Mutex
	// freeLanes holds, per topic published to, the indexes of its lanes no
	// Publish holds. One entry per topic: the topics are the fixed set the
	// service's code names.
	freeLanes map[string]chan int
}

var (
	_ Transport         = (*GoChannel)(nil)
	_ message.Publisher = goChannelPublisher{}
)

// errGoChannelClosed is what a Publish or a Subscribe gets once Close began.
var errGoChannelClosed = errors.New("gochannel transport closed")

// NewGoChannel makes config.Concurrency lanes.
func NewGoChannel(config GoChannelConfig, logger watermill.LoggerAdapter) (*GoChannel, error) {
	if err := config.Check(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	t := &GoChannel{closing: make(chan struct{}), freeLanes: map[string]chan int{}}
	// Each lane would log its own closing at info level: once is enough.
	laneLogger := closeQuietLogger{logger}
	for range config.Concurrency {
		t.lanes = append(t.lanes, gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, laneLogger))
	}
	return t, nil
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

// Publisher's Close closes the transport, as Close does.
func (t *GoChannel) Publisher() message.Publisher { return goChannelPublisher{t} }

// Subscriber returns a subscriber with a no-op Close: the router closes its
// subscribers, and the lanes it reads are the publisher's too. Its
// subscriptions end with their context or with the transport's Close.
func (t *GoChannel) Subscriber(string) (message.Subscriber, error) {
	return goChannelSubscriber{t}, nil
}

func (t *GoChannel) Ping(context.Context) error { return nil }

// Close releases every Publish still waiting, for a lane or for an ack (the
// latter returns nil, as if delivered, as Watermill's GoChannel does), and
// ends every subscription. A second Close does nothing.
func (t *GoChannel) Close() error {
	var errs []error
	t.closeOnce.Do(func() {
		close(t.closing)
		for _, lane := range t.lanes {
			errs = append(errs, lane.Close())
		}
	})
	return errors.Join(errs...)
}

func (t *GoChannel) isClosing() bool {
	select {
	case <-t.closing:
		return true
	default:
		return false
	}
}

// takeLane waits for a lane of topic that no Publish holds; release gives it
// back.
func (t *GoChannel) takeLane(topic string) (lane int, release func(), err error) {
	t.mu.Lock()
	free, ok := t.freeLanes[topic]
	if !ok {
		free = make(chan int, len(t.lanes))
		for i := range t.lanes {
			free <- i
		}
		t.freeLanes[topic] = free
	}
	t.mu.Unlock()

	select {
	case lane = <-free:
		// Never blocks: the channel has room for every lane.
		return lane, func() { free <- lane }, nil
	case <-t.closing:
		return 0, nil, errGoChannelClosed
	}
}

type goChannelPublisher struct{ t *GoChannel }

// Publish hands messages, in order, to topic's subscribers on one lane and
// returns once they acked each, or once the transport closes. A topic with no
// subscriber drops them, as Watermill's GoChannel does.
func (p goChannelPublisher) Publish(topic string, messages ...*message.Message) error {
	if p.t.isClosing() {
		return errGoChannelClosed
	}
	lane, release, err := p.t.takeLane(topic)
	if err != nil {
		return err
	}
	defer release()
	return p.t.lanes[lane].Publish(topic, messages...)
}

func (p goChannelPublisher) Close() error { return p.t.Close() }

type goChannelSubscriber struct{ t *GoChannel }

// Subscribe subscribes to topic on every lane. The merged channel closes once
// ctx is done or the transport closes; a message taken from a lane but not
// yet handed over then is dropped, as Watermill's GoChannel drops a message it
// could not deliver by then, and its Publish returns.
func (s goChannelSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if s.t.isClosing() {
		return nil, errGoChannelClosed
	}
	// The lanes' subscriptions live as long as subscribed: a Subscribe that
	// fails on a later lane ends those made on the earlier ones.
	subscribed, unsubscribe := cancelOnClose(ctx, s.t.closing)
	inputs := make([]<-chan *message.Message, 0, len(s.t.lanes))
	for _, lane := range s.t.lanes {
		input, err := lane.Subscribe(subscribed, topic)
		if err != nil {
			unsubscribe()
			return nil, err
		}
		inputs = append(inputs, input)
	}
	return mergeSubscriptions(inputs, subscribed.Done()), nil
}

func (goChannelSubscriber) Close() error { return nil }

// closeQuietLogger logs the lanes' "Pub/Sub closed", one line per lane, at
// debug level instead of info.
type closeQuietLogger struct {
	watermill.LoggerAdapter
}

func (l closeQuietLogger) Info(msg string, fields watermill.LogFields) {
	if msg == "Pub/Sub closed" {
		l.LoggerAdapter.Debug(msg, fields)
		return
	}
	l.LoggerAdapter.Info(msg, fields)
}

func (l closeQuietLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return closeQuietLogger{l.LoggerAdapter.With(fields)}
}
