package transport_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/internal/testenv"
)

// quietWindow is how long a test waits to be sure a message does not come.
const quietWindow = 300 * time.Millisecond

// A partition's messages are handed over several at once, up to the room
// of a partition, and its offset moves only past messages acked without a
// gap: a subscriber that stops with its first message unacked leaves every
// message to the next, even those it acked.
func TestKafkaHandsAPartitionsMessagesOverTogether(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	const room = 3
	open := func(t *testing.T) transport.Transport {
		kafka, err := transport.NewKafka(transport.KafkaConfig{
			Brokers:              brokers,
			ClientID:             "techradar",
			TopicPartitions:      1,
			ReplicationFactor:    1,
			SessionTimeout:       2 * time.Second,
			NackResendSleep:      testNackResend,
			InFlightPerPartition: room,
			Idempotent:           true,
		}, watermill.NopLogger{})
		if err != nil {
			t.Fatalf("NewKafka: %v", err)
		}
		t.Cleanup(func() { _ = kafka.Close() })
		return kafka
	}
	topic, group := testenv.UniqueName("topic."), testenv.UniqueName("group-")
	first := open(t)
	sent := newMessages(5)
	publishAsync(t, first, topic, sent...)()

	// The first subscriber gets the room's worth at once, acks all of them
	// but the first, and stops.
	subscriber, err := first.Subscriber(group)
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	messages, err := subscriber.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	got := receiveByOffset(t, messages, room)
	assertOffsets(t, got, 0, 1, 2)
	assertNothingComes(t, messages, "with the partition's room taken")
	got[1].Ack()
	got[2].Ack()
	assertNothingComes(t, messages, "with the partition's first message unacked")
	closeWithin(t, subscriber)

	// The next gets every message again, and the rest as room is freed.
	second := open(t)
	subscriber, err = second.Subscriber(group)
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	messages, err = subscriber.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	got = receiveByOffset(t, messages, room)
	assertOffsets(t, got, 0, 1, 2)
	for _, msg := range got {
		msg.Ack()
	}
	rest := receiveByOffset(t, messages, 2)
	assertOffsets(t, rest, 3, 4)
	for _, msg := range rest {
		msg.Ack()
	}
	if ids := uuids(append(got, rest...)); !slices.Equal(ids, uuids(sent)) {
		t.Errorf("got messages %v, want %v", ids, uuids(sent))
	}
	closeWithin(t, subscriber)

	// Every message was acked: the group is past them all.
	last := subscribe(t, open(t), topic, group)
	waitForKafkaGroup(t, brokers, topic, group, 1)
	assertNothingComes(t, last, "once the group acked every message")
}

// receiveByOffset receives n messages and returns them in offset order.
func receiveByOffset(t *testing.T, messages <-chan *message.Message, n int) []*message.Message {
	t.Helper()
	got := make([]*message.Message, 0, n)
	for range n {
		got = append(got, receive(t, messages))
	}
	slices.SortFunc(got, func(a, b *message.Message) int { return int(offsetOf(t, a) - offsetOf(t, b)) })
	return got
}

func offsetOf(t *testing.T, msg *message.Message) int64 {
	t.Helper()
	offset, ok := kafka.MessagePartitionOffsetFromCtx(msg.Context())
	if !ok {
		t.Fatalf("message %s has no partition offset in its context", msg.UUID)
	}
	return offset
}

func assertOffsets(t *testing.T, got []*message.Message, want ...int64) {
	t.Helper()
	offsets := make([]int64, len(got))
	for i, msg := range got {
		offsets[i] = offsetOf(t, msg)
	}
	if !slices.Equal(offsets, want) {
		t.Fatalf("got the messages at offsets %v, want %v", offsets, want)
	}
}

func assertNothingComes(t *testing.T, messages <-chan *message.Message, when string) {
	t.Helper()
	select {
	case msg := <-messages:
		t.Fatalf("message %s came %s", msg.UUID, when)
	case <-time.After(quietWindow):
	}
}

func uuids(messages []*message.Message) []string {
	ids := make([]string, len(messages))
	for i, msg := range messages {
		ids[i] = msg.UUID
	}
	return ids
}
