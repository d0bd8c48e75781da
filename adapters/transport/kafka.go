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
	// works on at once (kafka_subscriber.go).
	InFlightPerPartition int `name:"in-flight-per-partition" env:"IN_FLIGHT_PER_PARTITION" default:"16" help:"Messages of one partition a handler works on at once; a crash redelivers those not acknowledged and those after them."`
	// NackResendSleep is the pause before a nacked message is handed to the
	// handler again.
	NackResendSleep time.Duration `name:"nack-resend-sleep" env:"NACK_RESEND_SLEEP" default:"1s" help:"Pause before a nacked Kafka message is handled again."`
	// PublishTimeout bounds a publish, the client's retries included.
	PublishTimeout time.Duration `name:"publish-timeout" env:"PUBLISH_TIMEOUT" default:"10s" help:"How long a publish to Kafka may take, the client's retries included, before it fails."`
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
	p.Positive("KAFKA_PUBLISH_TIMEOUT", c.PublishTimeout)
	return p.Err()
}

// saramaConfig is the admin client's: it creates the topics and answers
// the pings, off the path of the messages.
func (c KafkaConfig) saramaConfig() *sarama.Config {
	config := sarama.NewConfig()
	config.ClientID = c.ClientID
	config.Net.DialTimeout = kafkaDialTimeout
	return config
}

// Kafka carries messages on Kafka, one topic per Watermill topic and
// one consumer group per handler.
//
// Delivery is at least once: a message's offset is committed only after the
// handler acked it and every message before it in its partition. A crashed
// consumer's partitions go to the rest of the group after SessionTimeout, from
// the last committed offset. A new group starts at the oldest message kept.
// Messages go to the partitions in turn, and a partition hands up to
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
	if err := config.Check(); err != nil {
		return nil, fmt.Errorf("kafka transport: %w", err)
	}
	admin, err := sarama.NewClusterAdmin(config.Brokers, config.saramaConfig())
	if err != nil {
		return nil, fmt.Errorf("kafka admin client for %v: %w", config.Brokers, err)
	}
	publisher, err := newKafkaPublisher(config)
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
	return newKafkaSubscriber(t.config, consumerGroup, t.logger, t.createTopic), nil
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
