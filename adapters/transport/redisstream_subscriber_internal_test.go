package transport

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/internal/testenv"
)

// The Redis Streams subscriber's own guarantees, beyond the transport
// contract: acknowledgements in batches and only after the handler's acks,
// nacks that hold up nothing else, entries taken back from a dead consumer
// or re-read after a restart, and entries the format cannot read.

// streamWait bounds every wait of these tests.
const streamWait = 20 * time.Second

// streamCase is a stream of the test's own and a client to look at it.
type streamCase struct {
	options *redis.Options
	client  *redis.Client
	stream  string
	group   string
}

func newStreamCase(t *testing.T) streamCase {
	t.Helper()
	options, prefix := testenv.Redis(t)
	client := redis.NewClient(options)
	t.Cleanup(func() { _ = client.Close() })
	return streamCase{options: options, client: client, stream: prefix + "stream", group: prefix + "group"}
}

func (c streamCase) open(t *testing.T, config RedisStreamConfig) *RedisStream {
	t.Helper()
	defaults := RedisStreamConfig{BlockTime: 100 * time.Millisecond, ClaimIdle: time.Minute, ClaimInterval: time.Minute, NackResendSleep: time.Minute, Concurrency: 8}
	if config.BlockTime == 0 {
		config.BlockTime = defaults.BlockTime
	}
	if config.ClaimIdle == 0 {
		config.ClaimIdle = defaults.ClaimIdle
	}
	if config.ClaimInterval == 0 {
		config.ClaimInterval = defaults.ClaimInterval
	}
	if config.NackResendSleep == 0 {
		config.NackResendSleep = defaults.NackResendSleep
	}
	if config.Concurrency == 0 {
		config.Concurrency = defaults.Concurrency
	}
	tr, err := NewRedisStream(c.options, config, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// subscribe subscribes tr to the case's stream as its group.
func (c streamCase) subscribe(t *testing.T, tr *RedisStream, prepare ...func(*redisStreamSubscriber)) <-chan *message.Message {
	t.Helper()
	subscriber, err := tr.Subscriber(c.group)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prepare {
		p(subscriber.(*redisStreamSubscriber))
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	messages, err := subscriber.Subscribe(ctx, c.stream)
	if err != nil {
		t.Fatal(err)
	}
	return messages
}

func (c streamCase) publish(t *testing.T, tr *RedisStream, n int) []*message.Message {
	t.Helper()
	sent := make([]*message.Message, n)
	for i := range sent {
		sent[i] = message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, `{"n":%d}`, i))
	}
	if err := tr.Publisher().Publish(c.stream, sent...); err != nil {
		t.Fatal(err)
	}
	return sent
}

// pending is how many entries of the group are delivered and not
// acknowledged, per consumer.
func (c streamCase) pending(t *testing.T) (total int64, byConsumer map[string]int64) {
	t.Helper()
	summary, err := c.client.XPending(context.Background(), c.stream, c.group).Result()
	if err != nil {
		t.Fatal(err)
	}
	return summary.Count, summary.Consumers
}

func (c streamCase) eventuallyPending(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(streamWait)
	for {
		got, _ := c.pending(t)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries pending after %s, want %d", got, streamWait, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func receiveFrom(t *testing.T, messages <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, open := <-messages:
		if !open {
			t.Fatal("the subscription closed")
		}
		return msg
	case <-time.After(streamWait):
		t.Fatalf("no message within %s", streamWait)
	}
	return nil
}

// xackCounter counts the XACK calls of a client and the ids they carry.
type xackCounter struct {
	mu         sync.Mutex
	calls, ids int
}

func (c *xackCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *xackCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "xack" {
			c.mu.Lock()
			c.calls++
			c.ids += len(cmd.Args()) - 3 // xack, stream, group, ids...
			c.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (c *xackCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (c *xackCounter) counts() (calls, ids int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.ids
}

func TestRedisStreamAcknowledgesInBatchesAfterTheHandlersAck(t *testing.T) {
	t.Parallel()
	c := newStreamCase(t)
	const n = 20
	tr := c.open(t, RedisStreamConfig{Consumer: "batcher", Concurrency: n})
	var counter xackCounter
	messages := c.subscribe(t, tr, func(s *redisStreamSubscriber) {
		s.acks.AddHook(&counter)
		// Only a full batch goes: what is seen is the batching, not a race
		// with a timer.
		s.ackDelay = time.Hour
	})
	sent := c.publish(t, tr, n)

	var received []*message.Message
	for range sent {
		received = append(received, receiveFrom(t, messages))
	}
	if pending, _ := c.pending(t); pending != n {
		t.Fatalf("%d entries pending with every message in the handler, want %d: acknowledged before the handler acked", pending, n)
	}
	for _, msg := range received[:n-1] {
		msg.Ack()
	}
	// The last ack fills the batch; until then nothing was acknowledged.
	time.Sleep(200 * time.Millisecond)
	if calls, _ := counter.counts(); calls != 0 {
		t.Fatalf("%d XACK calls before the batch was full", calls)
	}
	received[n-1].Ack()
	c.eventuallyPending(t, 0)
	if calls, ids := counter.counts(); calls != 1 || ids != n {
		t.Errorf("%d XACK calls for %d ids, want one for %d", calls, ids, n)
	}
}

func TestRedisStreamNackedMessageHoldsUpNoOther(t *testing.T) {
	t.Parallel()
	c := newStreamCase(t)
	// A nacked message comes back only after a minute: the others must
	// arrive, and be acknowledged, in the meantime.
	tr := c.open(t, RedisStreamConfig{Consumer: "nacker", Concurrency: 4, NackResendSleep: time.Minute})
	messages := c.subscribe(t, tr)

	nacked := c.publish(t, tr, 1)[0]
	if msg := receiveFrom(t, messages); msg.UUID != nacked.UUID {
		t.Fatalf("got %s, want %s", msg.UUID, nacked.UUID)
	} else {
		msg.Nack()
	}
	others := c.publish(t, tr, 10)
	got := map[string]bool{}
	for len(got) < len(others) {
		msg := receiveFrom(t, messages)
		if msg.UUID == nacked.UUID {
			t.Fatal("the nacked message came back before its pause")
		}
		got[msg.UUID] = true
		msg.Ack()
	}
	// Only the nacked one is left, waiting for its pause.
	c.eventuallyPending(t, 1)
}

func TestRedisStreamClaimsADeadConsumersEntries(t *testing.T) {
	t.Parallel()
	c := newStreamCase(t)
	config := RedisStreamConfig{Consumer: "survivor", ClaimIdle: 300 * time.Millisecond, ClaimInterval: 100 * time.Millisecond}
	tr := c.open(t, config)
	sent := c.publish(t, tr, 3)

	// A process that read the entries and died.
	ctx := context.Background()
	if err := c.client.XGroupCreateMkStream(ctx, c.stream, c.group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: c.group, Consumer: "dead", Streams: []string{c.stream, ">"}, Count: 10, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, byConsumer := c.pending(t); byConsumer["dead"] != 3 {
		t.Fatalf("pending per consumer %v, want 3 for the dead one", byConsumer)
	}

	messages := c.subscribe(t, tr)
	got := map[string]bool{}
	for len(got) < len(sent) {
		msg := receiveFrom(t, messages)
		got[msg.UUID] = true
		msg.Ack()
	}
	for _, msg := range sent {
		if !got[msg.UUID] {
			t.Errorf("message %s never claimed", msg.UUID)
		}
	}
	c.eventuallyPending(t, 0)
}

func TestRedisStreamRestartedConsumerReadsItsPendingEntriesFirst(t *testing.T) {
	t.Parallel()
	c := newStreamCase(t)
	// No claim can happen within the test: what comes back is read again
	// as the consumer's own.
	config := RedisStreamConfig{Consumer: "restarted", ClaimIdle: time.Hour}
	first := c.open(t, config)
	messages := c.subscribe(t, first)
	sent := c.publish(t, first, 3)
	for range sent {
		receiveFrom(t, messages) // neither acked nor nacked: the process dies
	}
	// The transport's Close gives up on the handlers at once, as a process
	// killed would.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, byConsumer := c.pending(t); byConsumer["restarted"] != 3 {
		t.Fatalf("pending per consumer %v, want 3 for the stopped one", byConsumer)
	}

	messages = c.subscribe(t, c.open(t, config))
	got := map[string]bool{}
	for len(got) < len(sent) {
		msg := receiveFrom(t, messages)
		got[msg.UUID] = true
		msg.Ack()
	}
	for _, msg := range sent {
		if !got[msg.UUID] {
			t.Errorf("message %s not read again", msg.UUID)
		}
	}
	c.eventuallyPending(t, 0)
}

func TestRedisStreamUnreadableEntryBecomesAMessageThatSaysSo(t *testing.T) {
	t.Parallel()
	c := newStreamCase(t)
	tr := c.open(t, RedisStreamConfig{Consumer: "reader"})
	messages := c.subscribe(t, tr)
	// Written by something else than a Watermill publisher.
	if err := c.client.XAdd(context.Background(), &redis.XAddArgs{Stream: c.stream, Values: map[string]any{"text": "Kafka"}}).Err(); err != nil {
		t.Fatal(err)
	}
	msg := receiveFrom(t, messages)
	if msg.Metadata.Get(unmarshalErrorMetadataKey) == "" {
		t.Fatalf("the foreign entry came as message %s with metadata %v, with no word of the error", msg.UUID, msg.Metadata)
	}
	msg.Ack()

	// The subscription goes on.
	sent := c.publish(t, tr, 1)[0]
	if msg := receiveFrom(t, messages); msg.UUID != sent.UUID {
		t.Fatalf("got %s, want %s", msg.UUID, sent.UUID)
	} else {
		msg.Ack()
	}
	c.eventuallyPending(t, 0)
}

func TestRedisStreamPendingEntryDeletedMeanwhileIsAcknowledged(t *testing.T) {
	t.Parallel()
	c := newStreamCase(t)
	config := RedisStreamConfig{Consumer: "returning", ClaimIdle: time.Hour}
	first := c.open(t, config)
	messages := c.subscribe(t, first)
	sent := c.publish(t, first, 2)
	for range sent {
		receiveFrom(t, messages)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// One of the two entries the stopped consumer held is deleted (a stream
	// cap trimmed it): read again, it comes without fields.
	entries, err := c.client.XRange(context.Background(), c.stream, "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries %v, %v", entries, err)
	}
	if err := c.client.XDel(context.Background(), c.stream, entries[0].ID).Err(); err != nil {
		t.Fatal(err)
	}

	messages = c.subscribe(t, c.open(t, config))
	if msg := receiveFrom(t, messages); msg.UUID != sent[1].UUID {
		t.Fatalf("got %s, want the entry still there, %s", msg.UUID, sent[1].UUID)
	} else {
		msg.Ack()
	}
	c.eventuallyPending(t, 0)
}
