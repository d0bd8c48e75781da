package transport

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// mergedSubscriber subscribes each of its subscribers to a topic and merges
// what they deliver into one channel, closed once all of theirs are. It is
// how a transport whose subscriptions hand over one message at a time handles
// several at once.
type mergedSubscriber struct {
	subscribers []message.Subscriber
	closing     chan struct{}
	closeOnce   sync.Once
}

func newMergedSubscriber(subscribers ...message.Subscriber) *mergedSubscriber {
	return &mergedSubscriber{subscribers: subscribers, closing: make(chan struct{})}
}

func (m *mergedSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	var inputs []<-chan *message.Message
	for _, subscriber := range m.subscribers {
		input, err := subscriber.Subscribe(ctx, topic)
		if err != nil {
			// Those already subscribed stop with Close.
			return nil, err
		}
		inputs = append(inputs, input)
	}
	return mergeSubscriptions(inputs, m.closing), nil
}

// mergeSubscriptions forwards what inputs deliver into one channel, closed
// once all of them are. A message not yet taken when closing closes is left
// unacknowledged: the transport delivers it again.
func mergeSubscriptions(inputs []<-chan *message.Message, closing <-chan struct{}) <-chan *message.Message {
	output := make(chan *message.Message)
	var forwarding sync.WaitGroup
	for _, input := range inputs {
		forwarding.Go(func() {
			for msg := range input {
				select {
				case output <- msg:
				case <-closing:
					return
				}
			}
		})
	}
	go func() {
		forwarding.Wait()
		close(output)
	}()
	return output
}

func (m *mergedSubscriber) Close() error {
	m.closeOnce.Do(func() { close(m.closing) })
	var errs []error
	for _, subscriber := range m.subscribers {
		if err := subscriber.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
