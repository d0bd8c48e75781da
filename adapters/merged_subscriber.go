package adapters

import (
	"context"
	"errors"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// mergedSubscriber subscribes each of its subscribers to each of the topics
// a topic stands for, and merges what they deliver into one channel, closed
// once all of theirs are. It is how a transport whose subscriptions hand over
// one message at a time handles several at once.
type mergedSubscriber struct {
	subscribers []message.Subscriber
	// topics lists the topics a subscription to topic reads; nil reads topic.
	topics    func(topic string) []string
	closing   chan struct{}
	closeOnce sync.Once
}

func newMergedSubscriber(topics func(topic string) []string, subscribers ...message.Subscriber) *mergedSubscriber {
	if topics == nil {
		topics = func(topic string) []string { return []string{topic} }
	}
	return &mergedSubscriber{subscribers: subscribers, topics: topics, closing: make(chan struct{})}
}

func (m *mergedSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	var inputs []<-chan *message.Message
	for _, subscriber := range m.subscribers {
		for _, t := range m.topics(topic) {
			input, err := subscriber.Subscribe(ctx, t)
			if err != nil {
				// Those already subscribed stop with Close.
				return nil, err
			}
			inputs = append(inputs, input)
		}
	}
	output := make(chan *message.Message)
	var forwarding sync.WaitGroup
	for _, input := range inputs {
		forwarding.Go(func() {
			for msg := range input {
				select {
				case output <- msg:
				case <-m.closing:
					// Not acked: the transport delivers it again.
					return
				}
			}
		})
	}
	go func() {
		forwarding.Wait()
		close(output)
	}()
	return output, nil
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
