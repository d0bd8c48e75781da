package transport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaPublisher sends the messages of one publish to Kafka together and
// returns once every one of them is acknowledged by the brokers.
//
// Watermill's Kafka publisher sends them one by one, each waiting for the
// previous one's acknowledgement: the outbox relay, which publishes the
// events of many commands at once, paid a round trip to the brokers per event
// and relayed events more slowly than the workers wrote them. It is a
// franz-go client, as the subscriber is: Sarama's producer took a seventh of
// the service's CPU under load (docs/BENCHMARKS.md). The messages are written
// as Watermill's publisher writes them (its default marshaler), so either
// side reads what the other wrote.
type kafkaPublisher struct {
	client    *kgo.Client
	marshaler kafka.Marshaler
	timeout   time.Duration

	// closeMu is held shared by every publish and alone by Close, so that
	// Close waits for the publishes under way.
	closeMu sync.RWMutex
	closed  bool
}

var errKafkaPublisherClosed = errors.New("kafka publisher: closed")

var _ message.Publisher = (*kafkaPublisher)(nil)

func newKafkaPublisher(config KafkaConfig) (*kafkaPublisher, error) {
	client, err := kgo.NewClient(config.producerOptions()...)
	if err != nil {
		return nil, err
	}
	return &kafkaPublisher{client: client, marshaler: kafka.DefaultMarshaler{}, timeout: config.PublishTimeout}, nil
}

// producerOptions wait for every in-sync replica to have a message before a
// publish returns, and, with Idempotent, let the broker drop the duplicates
// of a retried send.
func (c KafkaConfig) producerOptions() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(kafkaDialTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Each message to the next partition, so that the members of a group
		// share even a single publish; franz-go's default keeps a batch on
		// one partition.
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		// A publish waits for its acknowledgement: lingering would only
		// delay it. What comes while a request is under way is batched all
		// the same.
		kgo.ProducerLinger(0),
		// A publish that cannot be written gives up, so that nothing waits
		// for a broker forever; the caller publishes it again.
		kgo.RecordDeliveryTimeout(c.PublishTimeout),
		// A failed produce waits for fresh metadata before it is retried or
		// given up, and the client's default refreshes at most every 5 s:
		// a publish of a 1 s timeout then took 5 s.
		kgo.MetadataMinAge(time.Second),
	}
	if c.Idempotent {
		// Without it the client waits for the outcome of a request sent to
		// a broker that stopped answering, however long that takes. A
		// message given up that way may be written twice once its caller
		// publishes it again, which the handlers tolerate.
		opts = append(opts, kgo.AllowIdempotentProduceCancellation())
	} else {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts
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
	if len(messages) == 0 {
		return nil
	}
	records := make([]*kgo.Record, len(messages))
	for i, msg := range messages {
		record, err := p.record(topic, msg)
		if err != nil {
			return fmt.Errorf("kafka publisher: marshaling message %s: %w", msg.UUID, err)
		}
		records[i] = record
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	results := p.client.ProduceSync(ctx, records...)
	failed := 0
	var first error
	var firstID string
	for _, result := range results {
		if result.Err != nil {
			if failed == 0 {
				// The results come in the order the records were done.
				first, firstID = result.Err, messages[slices.Index(records, result.Record)].UUID
			}
			failed++
		}
	}
	switch {
	case failed == 0:
		return nil
	case len(records) == 1:
		return fmt.Errorf("kafka publisher: producing message %s to %s: %w", firstID, topic, first)
	default:
		return fmt.Errorf("kafka publisher: %d of %d messages to %s not produced, among them %s: %w", failed, len(records), topic, firstID, first)
	}
}

// record is msg as Watermill's publisher writes it to topic.
func (p *kafkaPublisher) record(topic string, msg *message.Message) (*kgo.Record, error) {
	marshaled, err := p.marshaler.Marshal(topic, msg)
	if err != nil {
		return nil, err
	}
	record := &kgo.Record{Topic: topic, Headers: make([]kgo.RecordHeader, len(marshaled.Headers))}
	for i, h := range marshaled.Headers {
		record.Headers[i] = kgo.RecordHeader{Key: string(h.Key), Value: h.Value}
	}
	if marshaled.Key != nil {
		if record.Key, err = marshaled.Key.Encode(); err != nil {
			return nil, err
		}
	}
	if marshaled.Value != nil {
		if record.Value, err = marshaled.Value.Encode(); err != nil {
			return nil, err
		}
	}
	return record, nil
}

// Close waits for the publishes under way (each ends once its messages are
// acknowledged or have failed), then closes the client.
func (p *kafkaPublisher) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.client.Close()
	return nil
}
