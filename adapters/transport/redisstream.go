package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
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
	// handler again; other messages go on meanwhile. No pause would spin a
	// failing handler as fast as it can fail.
	NackResendSleep time.Duration `name:"nack-resend-sleep" env:"NACK_RESEND_SLEEP" default:"1s" help:"Pause before a nacked Redis Streams message is handled again."`
	// Concurrency is how many messages of one group this process handles at
	// once. The process's one consumer of the group reads up to this many
	// entries per read and acknowledges up to this many per XACK. It also
	// bounds how many commands share one database transaction: at 32 the
	// workers fell behind what the API accepted (docs/BENCHMARKS.md, What
	// changed). It bounds the SMS provider's calls in flight per process as
	// well.
	Concurrency int `name:"concurrency" env:"CONCURRENCY" default:"128" help:"Messages of one handler this process works on at once on Redis Streams, read and acknowledged in batches of up to as many by the process's consumer; the commands in flight share database transactions."`
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
// Each process is one consumer of each group (redisStreamSubscriber): it
// reads in stream order and hands up to Concurrency messages to the handler
// at once, so they finish in no set order; entries claimed back come later
// still, and the processes of a group share the stream with no order between
// them. Clean trims the streams below what every group has handled.
type RedisStream struct {
	options   *redis.Options
	config    RedisStreamConfig
	logger    watermill.LoggerAdapter
	client    *redis.Client // the publisher's; it closes it
	publisher redisStreamPublisher
	// streams are those this process uses, which Clean trims.
	streams *redisStreamNames
	// closing tells the subscribers that no handler will ack anything more.
	closing   chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	// subscribers are those Subscriber made, one per handler: Close closes
	// them after the router did, so that their last acknowledgements are
	// sent before the process ends.
	subscribers []*redisStreamSubscriber
}

var _ Transport = (*RedisStream)(nil)

// NewRedisStream connects lazily to the Redis of options. The publisher has
// a client of its own, because closing it closes its client; each subscriber
// has two connections, one for its blocking reads and one for its
// acknowledgements, so connections stay bounded by the number of handlers,
// whatever the load and however long the process runs.
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
	return &RedisStream{
		options: options, config: config, logger: logger, client: client, streams: streams,
		publisher: redisStreamPublisher{Publisher: publisher, client: client, streams: streams},
		closing:   make(chan struct{}),
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

// Subscriber reads consumerGroup as this process's consumer of it.
func (t *RedisStream) Subscriber(consumerGroup string) (message.Subscriber, error) {
	if consumerGroup == "" {
		// An empty group would read the stream without a group: no
		// acknowledgement, no sharing, and only what is published from now on.
		return nil, errors.New("redis streams subscriber: empty consumer group")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.closing:
		return nil, errors.New("redis streams subscriber: the transport is closed")
	default:
	}
	subscriber := newRedisStreamSubscriber(t.options, consumerGroup, t.config, t.streams, t.closing, t.logger)
	t.subscribers = append(t.subscribers, subscriber)
	return subscriber, nil
}

func (t *RedisStream) Ping(ctx context.Context) error {
	if err := t.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis streams: ping %s: %w", t.options.Addr, err)
	}
	return nil
}

// Close closes the subscribers, which stop waiting for acks (the router,
// closed before, has finished its handlers) and send the last ones, then the
// publisher and, with it, its client.
func (t *RedisStream) Close() error {
	t.mu.Lock()
	t.closeOnce.Do(func() { close(t.closing) })
	subscribers := t.subscribers
	t.subscribers = nil
	t.mu.Unlock()
	var errs []error
	for _, subscriber := range subscribers {
		if err := subscriber.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := t.publisher.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the redis streams publisher: %w", err))
	}
	return errors.Join(errs...)
}

// unmarshalErrorMetadataKey marks a message made from a stream entry that was
// not written by a Watermill publisher.
const unmarshalErrorMetadataKey = "techradar_unmarshal_error"

// tolerantRedisStreamUnmarshaller turns an entry the default format cannot read
// into a message that says so, instead of an error: one foreign entry must
// not stop the subscription. The handler then fails or skips that one
// message.
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
	return errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrClosed) || errors.Is(err, net.ErrClosed)
}
