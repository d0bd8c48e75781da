package transport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/sync/singleflight"

	"github.com/techradar/techradar/internal/settings"
)

// KafkaConfig tunes the Kafka transport. The configuration embeds it under
// KAFKA_: the tags are the settings' flags, variables, defaults and help.
type KafkaConfig struct {
	Brokers  []string `name:"brokers" env:"BROKERS" sep:"," help:"Kafka bootstrap brokers, comma-separated (TRANSPORT=kafka)."`
	ClientID string   `name:"client-id" env:"CLIENT_ID" default:"techradar" help:"Client id sent to the Kafka brokers."`
	// TopicPartitions is the partition count of the topics the transport
	// creates: the most consumers of one group that can share a topic.
	TopicPartitions int32 `name:"topic-partitions" env:"TOPIC_PARTITIONS" default:"32" help:"Partitions of the topics techradar creates: the most workers that can share a handler's messages."`
	// ReplicationFactor of the topics the transport creates.
	ReplicationFactor int16 `name:"replication-factor" env:"REPLICATION_FACTOR" default:"1" help:"Replication factor of the topics techradar creates (3 on a production cluster)."`
	// SessionTimeout is how long a consumer that stopped heartbeating keeps
	// its partitions: how soon a crashed worker's messages go to another.
	SessionTimeout time.Duration `name:"session-timeout" env:"SESSION_TIMEOUT" default:"10s" help:"How long a silent consumer keeps its partitions before the group takes them back; the broker bounds it."`
	// InFlightPerPartition is how many messages of one partition a handler
	// works on at once (kafka_handover.go).
	InFlightPerPartition int `name:"in-flight-per-partition" env:"IN_FLIGHT_PER_PARTITION" default:"16" help:"Messages of one partition a handler works on at once; a crash redelivers those not acknowledged and those after them."`
	// NackResendSleep is the pause before a nacked message is handed to the
	// handler again.
	NackResendSleep time.Duration `name:"nack-resend-sleep" env:"NACK_RESEND_SLEEP" default:"1s" help:"Pause before a nacked Kafka message is handled again."`
	// Idempotent turns the idempotent producer on, so that a retried send is
	// written once. Brokers that do not grant it need it off; retried sends
	// may then be written twice.
	Idempotent bool `name:"idempotent" env:"IDEMPOTENT" default:"true" negatable:"" help:"Use the idempotent producer, so that a retried send is written once; turn off for brokers that do not allow it."`
}

const (
	kafkaReconnectRetrySleep = time.Second
	kafkaDialTimeout         = 10 * time.Second
	// maxKafkaInFlightPerPartition bounds what a subscriber holds: every
	// handler may have this many messages of each of its partitions.
	maxKafkaInFlightPerPartition = 1024
)

// kafkaClientID is what Kafka accepts as a client id.
var kafkaClientID = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Check reports every setting out of range, naming its variable. The brokers
// are not among them: only TRANSPORT=kafka needs them.
func (c KafkaConfig) Check() error {
	var p settings.Problems
	if !kafkaClientID.MatchString(c.ClientID) {
		p.Add("KAFKA_CLIENT_ID", "%q must be letters, digits, '.', '_' or '-'", c.ClientID)
	}
	if c.TopicPartitions < 1 {
		p.Add("KAFKA_TOPIC_PARTITIONS", "must be between 1 and %d, got %d", math.MaxInt32, c.TopicPartitions)
	}
	if c.ReplicationFactor < 1 {
		p.Add("KAFKA_REPLICATION_FACTOR", "must be between 1 and %d, got %d", math.MaxInt16, c.ReplicationFactor)
	}
	if c.SessionTimeout < time.Second {
		p.Add("KAFKA_SESSION_TIMEOUT", "must be at least 1s (brokers refuse less than 6s by default), got %s", c.SessionTimeout)
	}
	if c.InFlightPerPartition < 1 || c.InFlightPerPartition > maxKafkaInFlightPerPartition {
		p.Add("KAFKA_IN_FLIGHT_PER_PARTITION", "must be between 1 and %d, got %d", maxKafkaInFlightPerPartition, c.InFlightPerPartition)
	}
	p.Positive("KAFKA_NACK_RESEND_SLEEP", c.NackResendSleep)
	return p.Err()
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
	if c.Idempotent {
		config.Producer.Idempotent = true
		// The broker can only put a producer's batches back in order one
		// request at a time.
		config.Net.MaxOpenRequests = 1
	}
	return config
}

// consumerConfig starts a new group at the oldest message kept. The
// subscriber marks a partition's offset only past messages the handlers
// acked, with every one before them acked too, and the marks are committed
// every second and when a partition is given up: a crash redelivers every
// message not acked, those acked after it in its partition, and the acked
// ones of the last second.
// The handover (kafka_handover.go) relies on two settings here: it only
// marks, so the commits must be automatic, and it takes a session's end as
// the end of its claims, which holds for eager rebalancing (range) and not
// for the cooperative kind, where a revoked partition ends its claim alone.
func (c KafkaConfig) consumerConfig() *sarama.Config {
	config := c.saramaConfig()
	config.Consumer.Return.Errors = true
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Offsets.AutoCommit.Enable = true
	config.Consumer.Offsets.AutoCommit.Interval = time.Second
	config.Consumer.Group.Session.Timeout = c.SessionTimeout
	config.Consumer.Group.Heartbeat.Interval = c.SessionTimeout / 3
	config.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	return config
}

// checkSarama has Sarama check the configurations built from c.
func (c KafkaConfig) checkSarama() error {
	var errs []error
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
// Messages are spread over partitions at random, and a partition hands up to
// InFlightPerPartition of them to the handlers at once: there is no order
// between two messages. The transport creates
// the topics it uses with TopicPartitions partitions, so that the workers of a
// group can share them.
type Kafka struct {
	config    KafkaConfig
	logger    watermill.LoggerAdapter
	admin     sarama.ClusterAdmin
	publisher *kafkaPublisher

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
	if len(config.Brokers) == 0 {
		return nil, errors.New("kafka transport: KAFKA_BROKERS: no brokers")
	}
	if err := errors.Join(config.Check(), config.checkSarama()); err != nil {
		return nil, fmt.Errorf("kafka transport: %w", err)
	}
	admin, err := sarama.NewClusterAdmin(config.Brokers, config.saramaConfig())
	if err != nil {
		return nil, fmt.Errorf("kafka admin client for %v: %w", config.Brokers, err)
	}
	publisher, err := newKafkaPublisher(config.Brokers, config.producerConfig())
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

func (t *Kafka) Publisher() message.Publisher {
	return kafkaTopicCreatingPublisher{Publisher: t.publisher, createTopic: t.createTopic}
}

// Subscriber consumes as a member of consumerGroup.
func (t *Kafka) Subscriber(consumerGroup string) (message.Subscriber, error) {
	if consumerGroup == "" {
		// An empty group would read every partition without committing
		// anything, from the oldest message on every start.
		return nil, errors.New("kafka subscriber: empty consumer group")
	}
	return &kafkaSubscriber{
		config: kafka.SubscriberConfig{
			Brokers:               t.config.Brokers,
			OverwriteSaramaConfig: t.config.consumerConfig(),
			ConsumerGroup:         consumerGroup,
			NackResendSleep:       t.config.NackResendSleep,
			ReconnectRetrySleep:   kafkaReconnectRetrySleep,
		},
		inFlight:    t.config.InFlightPerPartition,
		logger:      t.logger,
		createTopic: t.createTopic,
		closing:     make(chan struct{}),
	}, nil
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

// Close closes the publisher, once the publishes under way have ended, and
// the admin client.
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

// kafkaTopicCreatingPublisher creates a topic, with the transport's
// partitions and replication, before its first publish to it.
type kafkaTopicCreatingPublisher struct {
	message.Publisher
	createTopic func(topic string) error
}

func (p kafkaTopicCreatingPublisher) Publish(topic string, messages ...*message.Message) error {
	if err := p.createTopic(topic); err != nil {
		return err
	}
	return p.Publisher.Publish(topic, messages...)
}
