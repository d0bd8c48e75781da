package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/sync/singleflight"
)

// KafkaConfig tunes the Kafka transport. Zero values take the defaults below.
type KafkaConfig struct {
	Brokers  []string
	ClientID string
	// TopicPartitions is the partition count of the topics the transport
	// creates: the most consumers of one group that can share a topic, and how
	// many messages of it one subscriber handles at once.
	TopicPartitions int32
	// ReplicationFactor of the topics the transport creates.
	ReplicationFactor int16
	// SessionTimeout is how long a consumer that stopped heartbeating keeps
	// its partitions: how soon a crashed worker's messages go to another.
	SessionTimeout time.Duration
	// NackResendSleep is the pause before a nacked message is handed to the
	// handler again.
	NackResendSleep time.Duration
	// DisableIdempotence turns the idempotent producer off, for brokers that do
	// not grant it; retried sends may then be written twice.
	DisableIdempotence bool
}

const (
	defaultKafkaClientID          = "techradar"
	defaultKafkaTopicPartitions   = 32
	defaultKafkaReplicationFactor = 1
	defaultKafkaSessionTimeout    = 10 * time.Second
	defaultKafkaNackResendSleep   = time.Second
	kafkaReconnectRetrySleep      = time.Second
	kafkaDialTimeout              = 10 * time.Second
)

func (c KafkaConfig) withDefaults() KafkaConfig {
	if c.ClientID == "" {
		c.ClientID = defaultKafkaClientID
	}
	if c.TopicPartitions == 0 {
		c.TopicPartitions = defaultKafkaTopicPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = defaultKafkaReplicationFactor
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = defaultKafkaSessionTimeout
	}
	if c.NackResendSleep == 0 {
		c.NackResendSleep = defaultKafkaNackResendSleep
	}
	return c
}

// saramaConfig holds what producer, consumers and admin share.
func (c KafkaConfig) saramaConfig() *sarama.Config {
	config := sarama.NewConfig()
	config.ClientID = c.ClientID
	config.Net.DialTimeout = kafkaDialTimeout
	return config
}

// producerConfig waits for every in-sync replica to have a message before
// Publish returns, and lets the broker drop the duplicates of a retried send.
func (c KafkaConfig) producerConfig() *sarama.Config {
	config := c.saramaConfig()
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Return.Successes = true
	config.Producer.Retry.Max = 10
	if !c.DisableIdempotence {
		config.Producer.Idempotent = true
		// The broker can only put a producer's batches back in order one
		// request at a time.
		config.Net.MaxOpenRequests = 1
	}
	return config
}

// consumerConfig starts a new group at the oldest message kept. The
// subscriber marks a message's offset only once the handler acked it, and the
// marks are committed every second and when a partition is given up: a crash
// redelivers at most the last second of acked messages, and every message
// that was not acked.
func (c KafkaConfig) consumerConfig() *sarama.Config {
	config := c.saramaConfig()
	config.Consumer.Return.Errors = true
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Offsets.AutoCommit.Enable = true
	config.Consumer.Offsets.AutoCommit.Interval = time.Second
	config.Consumer.Group.Session.Timeout = c.SessionTimeout
	config.Consumer.Group.Heartbeat.Interval = c.SessionTimeout / 3
	return config
}

func (c KafkaConfig) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if c.TopicPartitions < 1 {
		errs = append(errs, fmt.Errorf("topic partitions must be at least 1, got %d", c.TopicPartitions))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("replication factor must be at least 1, got %d", c.ReplicationFactor))
	}
	if c.NackResendSleep <= 0 {
		errs = append(errs, fmt.Errorf("nack resend sleep must be positive, got %s", c.NackResendSleep))
	}
	for _, config := range []*sarama.Config{c.producerConfig(), c.consumerConfig()} {
		if err := config.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Kafka carries messages on Kafka, one topic per Watermill topic and
// one consumer group per handler.
//
// Delivery is at least once: a message's offset is committed only after the
// handler acked it and every message before it in its partition. A crashed
// consumer's partitions go to the rest of the group after SessionTimeout, from
// the last committed offset. A new group starts at the oldest message kept.
// Order holds within a partition only, and messages are spread over partitions
// at random: there is no order between two messages. The transport creates
// the topics it uses with TopicPartitions partitions, so that the workers of a
// group can share them.
type Kafka struct {
	config    KafkaConfig
	logger    watermill.LoggerAdapter
	admin     sarama.ClusterAdmin
	publisher *kafka.Publisher

	createdTopicsMu sync.Mutex
	createdTopics   map[string]bool

	pings     singleflight.Group
	closeOnce sync.Once
	closeErr  error
}

var _ Transport = (*Kafka)(nil)

// NewKafka connects to the brokers; it fails if none answers.
func NewKafka(config KafkaConfig, logger watermill.LoggerAdapter) (*Kafka, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	config = config.withDefaults()
	if err := config.validate(); err != nil {
		return nil, fmt.Errorf("kafka transport: %w", err)
	}
	admin, err := sarama.NewClusterAdmin(config.Brokers, config.saramaConfig())
	if err != nil {
		return nil, fmt.Errorf("kafka admin client for %v: %w", config.Brokers, err)
	}
	publisher, err := kafka.NewPublisher(kafka.PublisherConfig{
		Brokers:               config.Brokers,
		OverwriteSaramaConfig: config.producerConfig(),
	}, logger)
	if err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("kafka publisher for %v: %w", config.Brokers, err)
	}
	return &Kafka{
		config:        config,
		logger:        logger,
		admin:         admin,
		publisher:     publisher,
		createdTopics: map[string]bool{},
	}, nil
}

func (t *Kafka) Publisher() message.Publisher { return kafkaTopicCreatingPublisher{t} }

// Subscriber consumes as a member of consumerGroup.
func (t *Kafka) Subscriber(consumerGroup string) (message.Subscriber, error) {
	if consumerGroup == "" {
		// An empty group would read every partition without committing
		// anything, from the oldest message on every start.
		return nil, errors.New("kafka subscriber: empty consumer group")
	}
	subscriber, err := kafka.NewSubscriber(kafka.SubscriberConfig{
		Brokers:               t.config.Brokers,
		OverwriteSaramaConfig: t.config.consumerConfig(),
		ConsumerGroup:         consumerGroup,
		NackResendSleep:       t.config.NackResendSleep,
		ReconnectRetrySleep:   kafkaReconnectRetrySleep,
	}, t.logger)
	if err != nil {
		return nil, fmt.Errorf("kafka subscriber for group %s: %w", consumerGroup, err)
	}
	return kafkaTopicCreatingSubscriber{Subscriber: subscriber, transport: t}, nil
}

// Ping asks the cluster to describe itself. Sarama calls take no context, so
// the call runs apart and one call serves the pings that arrive meanwhile.
func (t *Kafka) Ping(ctx context.Context) error {
	result := t.pings.DoChan("describe-cluster", func() (any, error) {
		_, _, err := t.admin.DescribeCluster()
		return nil, err
	})
	select {
	case r := <-result:
		if r.Err != nil {
			return fmt.Errorf("kafka: describing the cluster at %v: %w", t.config.Brokers, r.Err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: describing the cluster at %v: %w", t.config.Brokers, ctx.Err())
	}
}

// Close closes the publisher, which flushes what it holds, and the admin
// client.
func (t *Kafka) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		if err := t.publisher.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the kafka publisher: %w", err))
		}
		if err := t.admin.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the kafka admin client: %w", err))
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// createTopic makes sure topic exists with the configured partitions, once
// per topic and process. Without it the broker would create the topic on
// first use with its own default, often one partition, which no second worker
// could share.
func (t *Kafka) createTopic(topic string) error {
	t.createdTopicsMu.Lock()
	created := t.createdTopics[topic]
	t.createdTopicsMu.Unlock()
	if created {
		return nil
	}
	err := t.admin.CreateTopic(topic, &sarama.TopicDetail{
		NumPartitions:     t.config.TopicPartitions,
		ReplicationFactor: t.config.ReplicationFactor,
	}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) && !t.topicExists(topic) {
		// A cluster may forbid creating topics and have them made by its
		// operators; only a topic that is not there is a failure.
		return fmt.Errorf("creating kafka topic %s: %w", topic, err)
	}
	t.createdTopicsMu.Lock()
	t.createdTopics[topic] = true
	t.createdTopicsMu.Unlock()
	return nil
}

func (t *Kafka) topicExists(topic string) bool {
	metadata, err := t.admin.DescribeTopics([]string{topic})
	return err == nil && len(metadata) == 1 && errors.Is(metadata[0].Err, sarama.ErrNoError)
}

type kafkaTopicCreatingPublisher struct {
	transport *Kafka
}

func (p kafkaTopicCreatingPublisher) Publish(topic string, messages ...*message.Message) error {
	if err := p.transport.createTopic(topic); err != nil {
		return err
	}
	return p.transport.publisher.Publish(topic, messages...)
}

func (p kafkaTopicCreatingPublisher) Close() error { return p.transport.publisher.Close() }

type kafkaTopicCreatingSubscriber struct {
	*kafka.Subscriber
	transport *Kafka
}

func (s kafkaTopicCreatingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.transport.createTopic(topic); err != nil {
		return nil, err
	}
	return s.Subscriber.Subscribe(ctx, topic)
}
