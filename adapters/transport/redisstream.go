package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/internal/settings"
)

// RedisStreamConfig tunes the Redis Streams transport. The configuration
// embeds it under REDISSTREAM_: the tags are the settings' flags, variables,
// defaults and help.
type RedisStreamConfig struct {
	// Consumer names this process inside every consumer group. It must differ
	// between the processes sharing a group; empty means
	// DefaultRedisStreamConsumer.
	Consumer string `name:"consumer" env:"CONSUMER" help:"This process's consumer name in every Redis Streams group; it must differ between processes. Empty: host name and process id."`
	// MaxLen is a last-resort cap: each cleaning round (RETENTION_INTERVAL)
	// cuts a stream longer than this to it, dropping its oldest entries
	// whether or not every group has read them, and reports those some group
	// had not read. Zero, the default, never drops an entry a group needs:
	// the rounds trim only what every group is done with.
	MaxLen int64 `name:"max-len" env:"MAX_LEN" default:"0" help:"Last-resort cap on a stream's length, applied by the workers' cleaning rounds: entries beyond it are dropped read or not, and unread ones counted and logged. 0 (default): no cap; streams are trimmed only below what every group has handled."`
	// BlockTime is how long one read waits for new entries before the
	// subscriber reads again.
	BlockTime time.Duration `name:"block-time" env:"BLOCK_TIME" default:"1s" help:"How long one Redis Streams read waits for new entries."`
	// ClaimIdle is how long a delivered, unacknowledged entry waits before
	// another consumer of the group takes it over: how a message held by a
	// crashed process comes back. Set it above the longest handling time,
	// retries included, or slow messages get handled twice.
	ClaimIdle time.Duration `name:"claim-idle" env:"CLAIM_IDLE" default:"30s" help:"How long an unacknowledged entry waits before another consumer takes it over (how a crashed worker's messages come back); above the longest handling time."`
	// ClaimInterval is how often each subscriber looks for such entries.
	ClaimInterval time.Duration `name:"claim-interval" env:"CLAIM_INTERVAL" default:"5s" help:"How often a subscriber looks for entries to take over."`
	// NackResendSleep is the pause before a nacked message is handed to the
	// handler again. The library's default is no pause at all, which spins a
	// failing handler as fast as it can fail.
	NackResendSleep time.Duration `name:"nack-resend-sleep" env:"NACK_RESEND_SLEEP" default:"1s" help:"Pause before a nacked Redis Streams message is handled again."`
	// Concurrency is how many messages of one group this process handles at
	// once. A library subscriber hands over one message at a time, so each
	// unit is a consumer of its own, named Consumer-1, Consumer-2 and so on.
	Concurrency int `name:"concurrency" env:"CONCURRENCY" default:"32" help:"Messages of one handler this process works on at once on Redis Streams, each read by a consumer of its own (REDISSTREAM_CONSUMER-1, -2, ...); the commands in flight share database transactions."`
}

// redisStreamFromOldest starts a new consumer group at the first entry a
// stream holds, so that what was published before the group existed is
// handled too.
const redisStreamFromOldest = "0"

// Check reports every setting out of range, naming its variable.
func (c RedisStreamConfig) Check() error {
	var p settings.Problems
	if len(c.Consumer) > 200 || strings.IndexFunc(c.Consumer, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		p.Add("REDISSTREAM_CONSUMER", "%q must be at most 200 characters without spaces or control characters", c.Consumer)
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		p.Add("REDISSTREAM_CONCURRENCY", "must be between 1 and 256, got %d", c.Concurrency)
	}
	if c.MaxLen < 0 {
		p.Add("REDISSTREAM_MAX_LEN", "must not be negative (0 never trims), got %d", c.MaxLen)
	}
	p.Positive("REDISSTREAM_BLOCK_TIME", c.BlockTime)
	p.Positive("REDISSTREAM_CLAIM_IDLE", c.ClaimIdle)
	p.Positive("REDISSTREAM_CLAIM_INTERVAL", c.ClaimInterval)
	p.Positive("REDISSTREAM_NACK_RESEND_SLEEP", c.NackResendSleep)
	return p.Err()
}

// DefaultRedisStreamConsumer names this process: its host name, which tells
// containers apart, and its process id, which tells apart the processes of one
// host.
func DefaultRedisStreamConsumer() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// RedisStream carries messages on Redis Streams, one stream per topic
// and one consumer group per handler.
//
// Delivery is at least once: an entry is acknowledged (XACK) only after the
// handler acked it, and an entry a consumer took but never acknowledged, because
// its process died, is claimed by another consumer of the group once it has
// been idle for ClaimIdle. A new group starts at the oldest entry kept.
// Each consumer hands its handler one message at a time, in stream order;
// entries claimed back come out of order, and the consumers of a group, those
// of one process (Concurrency) as those of others, share the stream with no
// order between them. Clean trims the streams below what every group has
// handled.
type RedisStream struct {
	options   *redis.Options
	config    RedisStreamConfig
	logger    watermill.LoggerAdapter
	client    *redis.Client // the publisher's; it closes it
	publisher redisStreamPublisher
	// consumerPool is the pool every consumer of this process shares for its
	// acknowledgements, claims and consumer checks; only its blocking reads
	// get a connection of their own.
	consumerPool *redis.Client
	// streams are those this process uses, which Clean trims.
	streams *redisStreamNames
}

var _ Transport = (*RedisStream)(nil)

// NewRedisStream connects lazily to the Redis of options. The publisher
// and every consumer get a client of their own, because closing one closes
// the client it was given; the consumers' clients are thin (see
// redisStreamConsumerClient), so connections stay bounded by the number of
// consumers, whatever the load and however long the process runs.
func NewRedisStream(options *redis.Options, config RedisStreamConfig, logger watermill.LoggerAdapter) (*RedisStream, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if options == nil {
		return nil, errors.New("redis streams transport: no redis options")
	}
	if err := config.Check(); err != nil {
		return nil, fmt.Errorf("redis streams transport: %w", err)
	}
	if config.Consumer == "" {
		config.Consumer = DefaultRedisStreamConsumer()
	}
	client := redis.NewClient(options)
	// Publishes never trim: the cap, if any, is applied by Clean, which can
	// tell what it drops.
	publisher, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: client}, logger)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis streams publisher: %w", err)
	}
	streams := &redisStreamNames{}
	consumersOptions := *options
	// Every consumer of every group may acknowledge at once; beyond this,
	// an acknowledgement waits a moment for a connection instead of opening
	// one more.
	consumersOptions.PoolSize = config.Concurrency
	return &RedisStream{
		options: options, config: config, logger: logger, client: client, streams: streams,
		consumerPool: redis.NewClient(&consumersOptions),
		publisher:    redisStreamPublisher{Publisher: publisher, client: client, streams: streams},
	}, nil
}

// redisStreamPublisher sends the messages of one publish in one round trip;
// the library's publisher sends them, with the same arguments, one XADD at a
// time, each waiting for the one before.
type redisStreamPublisher struct {
	*redisstream.Publisher
	client  *redis.Client
	streams *redisStreamNames
}

func (p redisStreamPublisher) Publish(topic string, messages ...*message.Message) error {
	p.streams.add(topic)
	if len(messages) < 2 {
		return p.Publisher.Publish(topic, messages...)
	}
	var marshaller redisstream.DefaultMarshallerUnmarshaller
	ctx := messages[0].Context()
	commands, err := p.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, msg := range messages {
			values, err := marshaller.Marshal(topic, msg)
			if err != nil {
				return fmt.Errorf("cannot marshal message %s: %w", msg.UUID, err)
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: topic, Values: values})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis streams: publishing %d messages to %s: %w", len(messages), topic, err)
	}
	for i, command := range commands {
		if err := command.Err(); err != nil {
			return fmt.Errorf("redis streams: publishing message %s to %s: %w", messages[i].UUID, topic, err)
		}
	}
	return nil
}

func (t *RedisStream) Publisher() message.Publisher { return t.publisher }

// Subscriber reads consumerGroup with this process's consumers: one, or
// Concurrency of them merged into one subscription.
func (t *RedisStream) Subscriber(consumerGroup string) (message.Subscriber, error) {
	if consumerGroup == "" {
		// An empty group would read the stream without a group: no
		// acknowledgement, no sharing, and only what is published from now on.
		return nil, errors.New("redis streams subscriber: empty consumer group")
	}
	subscriber, err := t.consumers(consumerGroup)
	if err != nil {
		return nil, err
	}
	return redisStreamRecordingSubscriber{Subscriber: subscriber, streams: t.streams}, nil
}

func (t *RedisStream) consumers(consumerGroup string) (message.Subscriber, error) {
	if t.config.Concurrency == 1 {
		return t.consumer(consumerGroup, t.config.Consumer)
	}
	merged := newMergedSubscriber()
	for i := range t.config.Concurrency {
		consumer, err := t.consumer(consumerGroup, fmt.Sprintf("%s-%d", t.config.Consumer, i+1))
		if err != nil {
			_ = merged.Close()
			return nil, err
		}
		merged.subscribers = append(merged.subscribers, consumer)
	}
	return merged, nil
}

// consumer subscribes as one consumer of the group.
func (t *RedisStream) consumer(consumerGroup, name string) (*redisstream.Subscriber, error) {
	client := newRedisStreamConsumerClient(t.consumerPool, t.options)
	subscriber, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client:                        client,
		Unmarshaller:                  tolerantRedisStreamUnmarshaller{},
		Consumer:                      name,
		ConsumerGroup:                 consumerGroup,
		NackResendSleep:               t.config.NackResendSleep,
		BlockTime:                     t.config.BlockTime,
		ClaimInterval:                 t.config.ClaimInterval,
		MaxIdleTime:                   t.config.ClaimIdle,
		OldestId:                      redisStreamFromOldest,
		DisableIndefiniteInitialBlock: true,
		// Any read error but those of closing (Redis restarting, a network
		// blip) is retried.
		ShouldStopOnReadErrors: isRedisStreamClosing,
	}, quietClosingLogger{t.logger})
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis streams subscriber for group %s: %w", consumerGroup, err)
	}
	return subscriber, nil
}

func (t *RedisStream) Ping(ctx context.Context) error {
	if err := t.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis streams: ping %s: %w", t.options.Addr, err)
	}
	return nil
}

// Close closes the publisher and, with it, its client, then the consumers'
// shared pool: the subscribers are closed before the transport.
func (t *RedisStream) Close() error {
	var errs []error
	if err := t.publisher.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the redis streams publisher: %w", err))
	}
	if err := t.consumerPool.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		errs = append(errs, fmt.Errorf("closing the redis streams consumers' pool: %w", err))
	}
	return errors.Join(errs...)
}

// redisStreamConsumerClient is what one library subscriber is given as its
// client. A subscriber runs its blocking read, its acknowledgements, its claim
// loop and its consumer checks at once, each on a connection of the client's
// pool: with a pool per consumer, the 160 consumers of a worker (32 for each
// of 5 handlers) slowly filled their pools to hundreds of idle connections,
// each with its buffers. Here the blocking read, which holds its connection
// for up to BlockTime, has one connection of its own, and everything else goes
// to the pool all consumers share. Closing it, as the subscriber does when it
// closes, closes only the read connection.
type redisStreamConsumerClient struct {
	redis.UniversalClient
	reads *redis.Client
}

func newRedisStreamConsumerClient(shared *redis.Client, options *redis.Options) redisStreamConsumerClient {
	readOptions := *options
	readOptions.PoolSize = 1
	readOptions.MinIdleConns = 0
	readOptions.MaxIdleConns = 1
	return redisStreamConsumerClient{UniversalClient: shared, reads: redis.NewClient(&readOptions)}
}

func (c redisStreamConsumerClient) XReadGroup(ctx context.Context, a *redis.XReadGroupArgs) *redis.XStreamSliceCmd {
	return c.reads.XReadGroup(ctx, a)
}

func (c redisStreamConsumerClient) Close() error { return c.reads.Close() }

// unmarshalErrorMetadataKey marks a message made from a stream entry that was
// not written by a Watermill publisher.
const unmarshalErrorMetadataKey = "techradar_unmarshal_error"

// tolerantRedisStreamUnmarshaller turns an entry the default format cannot read
// into a message that says so, instead of an error: the library stops the
// whole subscription on an unmarshal error, so one foreign entry would stop
// the handler for good. The handler then fails or skips that one message.
type tolerantRedisStreamUnmarshaller struct {
	redisstream.DefaultMarshallerUnmarshaller
}

func (u tolerantRedisStreamUnmarshaller) Unmarshal(values map[string]any) (*message.Message, error) {
	msg, err := u.DefaultMarshallerUnmarshaller.Unmarshal(values)
	if err == nil {
		return msg, nil
	}
	uuid, _ := values[redisstream.UUIDHeaderKey].(string)
	if uuid == "" {
		uuid = watermill.NewUUID()
	}
	payload, _ := values["payload"].(string)
	msg = message.NewMessage(uuid, []byte(payload))
	msg.Metadata.Set(unmarshalErrorMetadataKey, err.Error())
	return msg, nil
}

// isRedisStreamClosing tells the errors a subscriber's own shutdown causes:
// its context cancelled under a read, or its client closed.
func isRedisStreamClosing(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrClosed)
}

// quietClosingLogger logs at debug level the errors of a subscriber's own
// shutdown, which the library reports as errors: a read in flight when the
// subscriber closes fails, and would otherwise log an error at every stop.
type quietClosingLogger struct {
	watermill.LoggerAdapter
}

func (l quietClosingLogger) Error(msg string, err error, fields watermill.LogFields) {
	if isRedisStreamClosing(err) {
		l.LoggerAdapter.Debug(msg, fields.Add(watermill.LogFields{"err": err}))
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

func (l quietClosingLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietClosingLogger{l.LoggerAdapter.With(fields)}
}
