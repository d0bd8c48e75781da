package transport

import (
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// kafkaPublisher sends the messages of one publish to Kafka together, in one
// call of Sarama's synchronous producer, and returns once every one of them
// is acknowledged by the brokers.
//
// Watermill's Kafka publisher sends them one by one, each waiting for the
// previous one's acknowledgement: the outbox relay, which publishes the
// events of many commands at once, paid a round trip to the brokers per event
// and relayed events more slowly than the workers wrote them. The messages
// are written as Watermill's publisher writes them (its default marshaler),
// so either side reads what the other wrote.
type kafkaPublisher struct {
	producer  sarama.SyncProducer
	marshaler kafka.Marshaler

	// closeMu is held shared by every publish and alone by Close, so that
	// nothing is sent into the producer after Close has closed it: Sarama
	// would panic, in a goroutine of its own.
	closeMu sync.RWMutex
	closed  bool
}

var errKafkaPublisherClosed = errors.New("kafka publisher: closed")

var _ message.Publisher = (*kafkaPublisher)(nil)

func newKafkaPublisher(brokers []string, config *sarama.Config) (*kafkaPublisher, error) {
	producer, err := sarama.NewSyncProducer(brokers, config)
	if err != nil {
		return nil, err
	}
	return &kafkaPublisher{producer: producer, marshaler: kafka.DefaultMarshaler{}}, nil
}

// Publish sends messages to topic. When it fails, some of them may have been
// written all the same; the caller publishes them again, and handlers
// tolerate a second delivery.
func (p *kafkaPublisher) Publish(topic string, messages ...*message.Message) error {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed {
		return errKafkaPublisherClosed
	}
	batch := make([]*sarama.ProducerMessage, len(messages))
	for i, msg := range messages {
		kafkaMsg, err := p.marshaler.Marshal(topic, msg)
		if err != nil {
			return fmt.Errorf("kafka publisher: marshaling message %s: %w", msg.UUID, err)
		}
		batch[i] = kafkaMsg
	}
	switch len(batch) {
	case 0:
		return nil
	case 1:
		// SendMessage reports the message's own error rather than a list.
		if _, _, err := p.producer.SendMessage(batch[0]); err != nil {
			return fmt.Errorf("kafka publisher: producing message %s to %s: %w", messages[0].UUID, topic, err)
		}
		return nil
	}
	if err := p.producer.SendMessages(batch); err != nil {
		var failed sarama.ProducerErrors
		if errors.As(err, &failed) && len(failed) > 0 {
			first := "?"
			for i, kafkaMsg := range batch {
				if kafkaMsg == failed[0].Msg {
					first = messages[i].UUID
					break
				}
			}
			return fmt.Errorf("kafka publisher: %d of %d messages to %s not produced, among them %s: %w", len(failed), len(batch), topic, first, failed[0].Err)
		}
		return fmt.Errorf("kafka publisher: producing %d messages to %s: %w", len(batch), topic, err)
	}
	return nil
}

// Close waits for the publishes under way (each ends once its messages are
// acknowledged or have failed), then closes the producer.
func (p *kafkaPublisher) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.producer.Close()
}
