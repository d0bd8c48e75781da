package transport_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	topic, group := testenv.UniqueName("topic."), testenv.UniqueName("group-")
	open := func(t *testing.T) transport.Transport { return openKafka(t, brokers, 1, room) }
	subscribeOwn := func(t *testing.T, opened transport.Transport) (message.Subscriber, <-chan *message.Message) {
		subscriber, err := opened.Subscriber(group)
		if err != nil {
			t.Fatalf("subscriber: %v", err)
		}
		t.Cleanup(func() { _ = subscriber.Close() })
		messages, err := subscriber.Subscribe(context.Background(), topic)
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		return subscriber, messages
	}
	first := open(t)
	sent := newMessages(5)
	publishAsync(t, first, topic, sent...)()

	// The first subscriber gets the room's worth at once, acks all of them
	// but the first, and stops.
	subscriber, messages := subscribeOwn(t, first)
	got := receiveByOffset(t, messages, room)
	assertOffsets(t, got, 0, 1, 2)
	assertNothingComes(t, messages, "with the partition's room taken")
	got[1].Ack()
	got[2].Ack()
	assertNothingComes(t, messages, "with the partition's first message unacked")
	closeWithin(t, subscriber)

	// The next gets every message again, and the rest as room is freed.
	subscriber, messages = subscribeOwn(t, open(t))
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
	// Marks are committed every second: wait for the commit, so that the
	// close cannot end the session before the marks are made.
	eventually(t, func() bool { return committedOffset(t, brokers, group, topic) == int64(len(sent)) },
		"the group's offset never reached the end of the partition")
	closeWithin(t, subscriber)

	// Every message was acked: the group is past them all.
	last := subscribe(t, open(t), topic, group)
	waitForKafkaGroup(t, brokers, topic, group, 1)
	assertNothingComes(t, last, "once the group acked every message")
}

// committedOffset is the offset group committed for partition 0 of topic,
// or -1.
func committedOffset(t *testing.T, brokers []string, group, topic string) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatalf("kafka admin: %v", err)
	}
	defer admin.Close()
	offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
	if err != nil {
		return -1
	}
	block := offsets.GetBlock(topic, 0)
	if block == nil {
		return -1
	}
	return block.Offset
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
	_, offset, ok := transport.KafkaMessageOffset(msg)
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

// A rebalance while a partition's messages are in flight neither waits for
// them nor loses them: their claim ends at once, and whichever member takes
// the partition gets every message not acked in it.
func TestKafkaRebalanceWithMessagesInFlight(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	topic, group := testenv.UniqueName("topic."), testenv.UniqueName("group-")
	open := func(t *testing.T) transport.Transport { return openKafka(t, brokers, 1, 3) }
	first := open(t)
	sent := newMessages(5)
	publishAsync(t, first, topic, sent...)()

	held := subscribe(t, first, topic, group)
	inFlight := receiveByOffset(t, held, 3)
	// A second member joins while the first holds three messages unacked:
	// the group must settle without waiting for them.
	joined := subscribe(t, open(t), topic, group)
	// One partition: one of the two members holds it, the other nothing.
	waitForKafkaGroup(t, brokers, "", group, 2)
	for _, msg := range inFlight {
		msg.Ack() // too late for the claim they came in
	}

	got := map[string]bool{}
	deadline := time.After(waitLimit)
	for len(got) < len(sent) || committedOffset(t, brokers, group, topic) != int64(len(sent)) {
		select {
		case msg := <-held:
			got[msg.UUID] = true
			msg.Ack()
		case msg := <-joined:
			got[msg.UUID] = true
			msg.Ack()
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("after the rebalance, got %d of %d messages, the group's offset at %d",
				len(got), len(sent), committedOffset(t, brokers, group, topic))
		}
	}
	for _, msg := range sent {
		if !got[msg.UUID] {
			t.Errorf("message %s never came after the rebalance", msg.UUID)
		}
	}
}

// A partition whose messages are held does not hold the others back, though
// more of its records are fetched than there is room for: its fetches pause
// while its queue is full, and once its messages are acked every one of
// them comes, none skipped.
func TestKafkaHeldPartitionLetsTheOthersFlow(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	topic, group := testenv.UniqueName("topic."), testenv.UniqueName("group-")
	opened := openKafka(t, brokers, 2, 2)
	// More than a subscription's records waiting (1,024) in each partition.
	sent := newMessages(2 * 1200)
	if err := opened.Publisher().Publish(topic, sent...); err != nil {
		t.Fatalf("publish: %v", err)
	}
	messages := subscribe(t, opened, topic, group)

	got := map[string]bool{}
	var held []*message.Message
	heldPartition := int32(-1)
	offsets := map[int32]map[int64]bool{0: {}, 1: {}}
	take := func(msg *message.Message) {
		partition, offset, ok := transport.KafkaMessageOffset(msg)
		if !ok {
			t.Fatalf("message %s has no partition offset", msg.UUID)
		}
		got[msg.UUID] = true
		offsets[partition][offset] = true
		if heldPartition == -1 {
			heldPartition = partition
		}
		if partition == heldPartition && held != nil {
			held = append(held, msg)
			return
		}
		msg.Ack()
	}

	// The first partition seen is held: its messages stay unacked.
	held = []*message.Message{}
	deadline := time.After(waitLimit)
	for len(offsets[1-max(heldPartition, 0)]) < 1200 || heldPartition == -1 {
		select {
		case msg := <-messages:
			take(msg)
		case <-deadline:
			t.Fatalf("with partition %d held, the other gave %d of 1200 messages", heldPartition, len(offsets[1-heldPartition]))
		}
	}
	if len(held) > 2 {
		t.Fatalf("%d messages of the held partition in flight, with room for 2", len(held))
	}

	// Released, the held partition gives every message, none skipped.
	for _, msg := range held {
		msg.Ack()
	}
	held = nil
	for len(got) < len(sent) {
		select {
		case msg := <-messages:
			take(msg)
		case <-deadline:
			t.Fatalf("got %d of %d messages after the release", len(got), len(sent))
		}
	}
	for partition, seen := range offsets {
		for offset := range int64(1200) {
			if !seen[offset] {
				t.Fatalf("partition %d: offset %d never came", partition, offset)
			}
		}
	}
}

// A publish to a broker that keeps refusing it fails soon after the publish
// timeout instead of waiting for the broker.
func TestKafkaPublishGivesUp(t *testing.T) {
	t.Parallel()
	cluster := startKafkaCluster(t)
	brokers := cluster.ListenAddrs()
	topic := testenv.UniqueName("topic.")
	opened, err := transport.NewKafka(transport.KafkaConfig{
		Brokers:              brokers,
		ClientID:             "techradar",
		TopicPartitions:      1,
		ReplicationFactor:    1,
		SessionTimeout:       2 * time.Second,
		NackResendSleep:      testNackResend,
		InFlightPerPartition: 1,
		PublishTimeout:       time.Second,
		Idempotent:           true,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewKafka: %v", err)
	}
	t.Cleanup(func() { _ = opened.Close() })
	// The topic exists before the broker refuses: only its produce fails.
	// The first publish also waits for the producer's id, which a busy
	// machine may not give within the second.
	eventually(t, func() bool { return opened.Publisher().Publish(topic, newMessages(1)...) == nil },
		"the first publish never succeeded")
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return nil, errors.New("refused"), true // the broker drops the connection
	})

	began := time.Now()
	err = opened.Publisher().Publish(topic, newMessages(3)...)
	if err == nil {
		t.Fatal("a refused publish succeeded")
	}
	// The client gives a record up at its next metadata refresh, a second
	// at most after the timeout; without the refresh's bound it took 5 s.
	if took := time.Since(began); took > 4*time.Second {
		t.Fatalf("the refused publish took %s with a timeout of 1s", took)
	}
}

// The group's offset moves past what was acked even when another client
// committed it with a leader epoch: the client moves a mark only forward,
// comparing epochs first, so a mark without one would never count.
func TestKafkaMarksPastAnOffsetCommittedWithAnEpoch(t *testing.T) {
	t.Parallel()
	brokers := startKafka(t)
	topic, group := testenv.UniqueName("topic."), testenv.UniqueName("group-")
	opened := openKafka(t, brokers, 1, 4)
	sent := newMessages(4)
	if err := opened.Publisher().Publish(topic, sent...); err != nil {
		t.Fatalf("publish: %v", err)
	}
	other, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var commitErr error
	other.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: 0, Offset: 1}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
		})
	other.Close()
	if commitErr != nil {
		t.Fatalf("committing with an epoch: %v", commitErr)
	}

	messages := subscribe(t, opened, topic, group)
	for _, msg := range receiveByOffset(t, messages, 3) {
		msg.Ack()
	}
	eventually(t, func() bool { return committedOffset(t, brokers, group, topic) == int64(len(sent)) },
		"the group's offset never moved past the messages acked")
}
