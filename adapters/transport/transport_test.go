package transport_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// How long the tests wait for anything; the nack pause every durable
// transport is given, to tell a paced redelivery from a hot loop; how long
// they watch for a duplicate once everything arrived.
const (
	waitLimit       = 20 * time.Second
	testNackResend  = 200 * time.Millisecond
	duplicateWindow = 500 * time.Millisecond
)

// transportKind is one implementation of transport.Transport under the
// contract.
type transportKind struct {
	name string
	// durable transports keep a topic's messages for consumer groups that
	// start later, and share a group's messages between its subscribers.
	durable bool
	// takesTurns is true where the subscribers of a group take the messages
	// in turns rather than side by side, so either may get them all.
	takesTurns bool
	// pacesNacks is true where a nacked message comes back after a pause.
	pacesNacks bool
	// backend prepares the backing service, shared by the cases of the kind.
	backend func(t *testing.T) *transportBackend
}

// transportBackend opens transports on one backing service.
type transportBackend struct {
	// open starts one more process's transport; the test closes it at the end.
	open func(t *testing.T) transport.Transport
	// topic is a name no other case uses.
	topic func(t *testing.T) string
	// waitForGroup returns once members subscribers of group on topic have
	// their share of it, where joining a group takes a while.
	waitForGroup func(t *testing.T, topic, group string, members int)
	// openUnreachable, where set, opens a transport whose backend is down.
	openUnreachable func(t *testing.T) transport.Transport
}

var transportKinds = []transportKind{
	{name: "gochannel", backend: goChannelBackend},
	{name: "redisstream", durable: true, pacesNacks: true, backend: redisStreamBackend},
	{name: "sql", durable: true, takesTurns: true, pacesNacks: true, backend: sqlBackend},
	{name: "kafka", durable: true, pacesNacks: true, backend: kafkaBackend},
}

func TestTransportContract(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  func(t *testing.T, kind transportKind, backend *transportBackend)
	}{
		{"messages arrive intact", testMessagesArriveIntact},
		{"concurrent publishers lose nothing", testConcurrentPublishersLoseNothing},
		{"a new group gets what was published before it", testNewGroupGetsEarlierMessages},
		{"subscribers of one group share the messages", testGroupSharesMessages},
		{"every group gets every message", testEveryGroupGetsEveryMessage},
		{"a nacked message comes back", testNackedMessageComesBack},
		{"an unacked message of a stopped subscriber goes to another", testUnackedMessageGoesToAnotherSubscriber},
		{"ping", testPing},
		{"close", testClose},
	}
	for _, kind := range transportKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			backend := kind.backend(t)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, kind, backend)
				})
			}
		})
	}
}

func testMessagesArriveIntact(t *testing.T, _ transportKind, backend *transportBackend) {
	transport := backend.open(t)
	topic := backend.topic(t)
	messages := subscribe(t, transport, topic, testenv.UniqueName("group-"))

	sent := []*message.Message{
		message.NewMessage(watermill.NewUUID(), []byte(`{"name":"Kafka"}`)),
		message.NewMessage(watermill.NewUUID(), []byte{0xff, 0x00, 0xfe, '\n'}), // not JSON, not UTF-8
		message.NewMessage(watermill.NewUUID(), nil),
	}
	sent[0].Metadata.Set("correlation_id", "corr-1")
	sent[0].Metadata.Set("name", "CreateTech")
	sent[1].Metadata.Set("unicode", "München ✓")
	waitPublished := publishAsync(t, transport, topic, sent...)

	got := map[string]*message.Message{}
	for len(got) < len(sent) {
		msg := receive(t, messages)
		got[msg.UUID] = msg
		msg.Ack()
	}
	waitPublished()
	for _, want := range sent {
		msg, ok := got[want.UUID]
		if !ok {
			t.Errorf("message %s never arrived; got %v", want.UUID, keys(got))
			continue
		}
		if string(msg.Payload) != string(want.Payload) {
			t.Errorf("message %s: payload %q, want %q", want.UUID, msg.Payload, want.Payload)
		}
		for k, v := range want.Metadata {
			if msg.Metadata.Get(k) != v {
				t.Errorf("message %s: metadata %s = %q, want %q", want.UUID, k, msg.Metadata.Get(k), v)
			}
		}
	}
}

// testConcurrentPublishersLoseNothing publishes from many goroutines while a
// subscriber reads. On MySQL an insert takes its offset before its row is
// visible; a reader that skips such a row loses it. The race is a matter of
// timing, so a regression fails this case often, not every time.
func testConcurrentPublishersLoseNothing(t *testing.T, _ transportKind, backend *transportBackend) {
	transport := backend.open(t)
	topic := backend.topic(t)
	messages := subscribe(t, transport, topic, testenv.UniqueName("group-"))

	const publishers, perPublisher = 32, 40
	var (
		sent       []*message.Message
		published  sync.WaitGroup
		publishErr = make(chan error, publishers)
	)
	for range publishers {
		batch := newMessages(perPublisher)
		sent = append(sent, batch...)
		published.Go(func() {
			for _, msg := range batch {
				if err := transport.Publisher().Publish(topic, msg); err != nil {
					publishErr <- err
					return
				}
			}
		})
	}

	got := map[string]int{}
	for len(got) < len(sent) {
		select {
		case msg, ok := <-messages:
			if !ok {
				t.Fatal("the subscription closed")
			}
			got[msg.UUID]++
			msg.Ack()
		case err := <-publishErr:
			t.Fatalf("publish: %v", err)
		case <-time.After(waitLimit):
			t.Fatalf("%d of %d messages arrived; none more within %s", len(got), len(sent), waitLimit)
		}
	}
	published.Wait() // every message arrived, so every Publish has returned
	drainUntilQuiet(messages, got)
	assertEachOnce(t, sent, got)
}

// drainUntilQuiet counts what else arrives within duplicateWindow.
func drainUntilQuiet(messages <-chan *message.Message, got map[string]int) {
	for {
		select {
		case msg, ok := <-messages:
			if !ok {
				return
			}
			got[msg.UUID]++
			msg.Ack()
		case <-time.After(duplicateWindow):
			return
		}
	}
}

func testNewGroupGetsEarlierMessages(t *testing.T, kind transportKind, backend *transportBackend) {
	if !kind.durable {
		t.Skip("gochannel keeps nothing: a message with no subscriber is gone")
	}
	topic := backend.topic(t)
	sent := newMessages(5)
	if err := backend.open(t).Publisher().Publish(topic, sent...); err != nil {
		t.Fatalf("publish with no subscriber: %v", err)
	}

	// Another process, as a worker started after the API.
	messages := subscribe(t, backend.open(t), topic, testenv.UniqueName("group-"))
	got := map[string]int{}
	for len(got) < len(sent) {
		msg := receive(t, messages)
		got[msg.UUID]++
		msg.Ack()
	}
	assertEachOnce(t, sent, got)
}

func testGroupSharesMessages(t *testing.T, kind transportKind, backend *transportBackend) {
	if !kind.durable {
		t.Skip("gochannel has no consumer groups: it runs in one process")
	}
	topic, group := backend.topic(t), testenv.UniqueName("group-")
	workers := []transport.Transport{backend.open(t), backend.open(t)}

	var (
		mu       sync.Mutex
		got      = map[string]int{}
		byWorker = make([]int, len(workers))
	)
	for i, worker := range workers {
		messages := subscribe(t, worker, topic, group)
		go func() {
			for msg := range messages {
				time.Sleep(2 * time.Millisecond) // some work, so that the other worker gets its turn
				mu.Lock()
				got[msg.UUID]++
				byWorker[i]++
				mu.Unlock()
				msg.Ack()
			}
		}()
	}
	backend.waitForGroup(t, topic, group, len(workers))

	sent := newMessages(40)
	publishAsync(t, workers[0], topic, sent...)()
	eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(sent)
	}, "not every message arrived")
	time.Sleep(duplicateWindow)

	mu.Lock()
	defer mu.Unlock()
	assertEachOnce(t, sent, got)
	if !kind.takesTurns && slices.Contains(byWorker, 0) {
		t.Errorf("the workers did not share the messages: %v", byWorker)
	}
	t.Logf("messages per worker: %v", byWorker)
}

func testEveryGroupGetsEveryMessage(t *testing.T, _ transportKind, backend *transportBackend) {
	transport := backend.open(t)
	topic := backend.topic(t)
	groups := []string{testenv.UniqueName("group-a-"), testenv.UniqueName("group-b-")}

	var (
		mu      sync.Mutex
		byGroup = []map[string]int{{}, {}}
	)
	for i, group := range groups {
		messages := subscribe(t, transport, topic, group)
		go func() {
			for msg := range messages {
				mu.Lock()
				byGroup[i][msg.UUID]++
				mu.Unlock()
				msg.Ack()
			}
		}()
	}

	sent := newMessages(10)
	publishAsync(t, transport, topic, sent...)()
	eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(byGroup[0]) == len(sent) && len(byGroup[1]) == len(sent)
	}, "a group missed messages")
	time.Sleep(duplicateWindow)

	mu.Lock()
	defer mu.Unlock()
	for i := range groups {
		assertEachOnce(t, sent, byGroup[i])
	}
}

func testNackedMessageComesBack(t *testing.T, kind transportKind, backend *transportBackend) {
	transport := backend.open(t)
	topic := backend.topic(t)
	messages := subscribe(t, transport, topic, testenv.UniqueName("group-"))

	sent := newMessages(1)[0]
	waitPublished := publishAsync(t, transport, topic, sent)

	const nacks = 2
	var deliveries []time.Time
	for len(deliveries) <= nacks {
		msg := receive(t, messages)
		if msg.UUID != sent.UUID {
			t.Fatalf("got message %s, want %s", msg.UUID, sent.UUID)
		}
		deliveries = append(deliveries, time.Now())
		if len(deliveries) <= nacks {
			msg.Nack()
		} else {
			msg.Ack()
		}
	}
	waitPublished()

	select {
	case msg, ok := <-messages:
		if ok {
			t.Errorf("message %s came back after its ack", msg.UUID)
		}
	case <-time.After(duplicateWindow):
	}

	if !kind.pacesNacks {
		// gochannel hands a nacked message back at once; in the service the
		// router's retry middleware is what spaces the attempts.
		return
	}
	for i := 1; i < len(deliveries); i++ {
		if gap := deliveries[i].Sub(deliveries[i-1]); gap < testNackResend*3/4 {
			t.Errorf("delivery %d came %s after the nack, want about %s: a hot loop", i+1, gap, testNackResend)
		}
	}
}

func testUnackedMessageGoesToAnotherSubscriber(t *testing.T, kind transportKind, backend *transportBackend) {
	if !kind.durable {
		t.Skip("gochannel has no consumer groups: an unacked message dies with its process")
	}
	topic, group := backend.topic(t), testenv.UniqueName("group-")
	crashing := backend.open(t)
	subscriber, err := crashing.Subscriber(group)
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	messages, err := subscriber.Subscribe(ctx, topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	backend.waitForGroup(t, topic, group, 1)

	sent := newMessages(1)[0]
	publishAsync(t, crashing, topic, sent)()
	if msg := receive(t, messages); msg.UUID != sent.UUID {
		t.Fatalf("got message %s, want %s", msg.UUID, sent.UUID)
	}
	// Neither acked nor nacked: the handler never finished.
	closeWithin(t, subscriber)

	survivor := subscribe(t, backend.open(t), topic, group)
	msg := receive(t, survivor)
	if msg.UUID != sent.UUID {
		t.Fatalf("the other subscriber got %s, want %s", msg.UUID, sent.UUID)
	}
	msg.Ack()
}

func testPing(t *testing.T, _ transportKind, backend *transportBackend) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := backend.open(t).Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}

	if backend.openUnreachable == nil {
		return // gochannel has nothing that could be down
	}
	transport := backend.openUnreachable(t)
	start := time.Now()
	if err := transport.Ping(ctx); err == nil {
		t.Error("Ping of a backend that is down answered nil")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("Ping of a backend that is down took %s", waited)
	}
}

func testClose(t *testing.T, kind transportKind, backend *transportBackend) {
	transport := backend.open(t)
	topic := backend.topic(t)
	subscriber, err := transport.Subscriber(testenv.UniqueName("group-"))
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	messages, err := subscriber.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	closeWithin(t, subscriber)
	if kind.durable {
		// gochannel's subscribers share the one pub/sub, which only the
		// transport's Close ends.
		assertClosed(t, messages, "the subscriber's")
	}
	closeWithin(t, transport)
	assertClosed(t, messages, "the transport's")
	closeWithin(t, transport) // a second Close is harmless
	if err := transport.Publisher().Publish(topic, newMessages(1)...); err == nil {
		t.Error("Publish after Close succeeded")
	}
}

func assertClosed(t *testing.T, messages <-chan *message.Message, closer string) {
	t.Helper()
	select {
	case msg, open := <-messages:
		if open {
			t.Errorf("message %s arrived after %s Close", msg.UUID, closer)
		}
	case <-time.After(waitLimit):
		t.Fatalf("the subscription stayed open %s after %s Close", waitLimit, closer)
	}
}

// Backends.

func goChannelBackend(*testing.T) *transportBackend {
	return &transportBackend{
		open: func(t *testing.T) transport.Transport {
			transport, err := transport.NewGoChannel(transport.GoChannelConfig{Concurrency: 8}, watermill.NopLogger{})
			if err != nil {
				t.Fatalf("NewGoChannel: %v", err)
			}
			t.Cleanup(func() { _ = transport.Close() })
			return transport
		},
		topic:        func(*testing.T) string { return testenv.UniqueName("topic-") },
		waitForGroup: func(*testing.T, string, string, int) {},
	}
}

func redisStreamBackend(t *testing.T) *transportBackend {
	options, _ := testenv.Redis(t) // skips, or fails under CI, if Redis is down
	var consumers atomic.Int64
	open := func(t *testing.T, options *redis.Options) transport.Transport {
		n := consumers.Add(1)
		transport, err := transport.NewRedisStream(options, transport.RedisStreamConfig{
			Consumer:        fmt.Sprintf("test-consumer-%d", n),
			MaxLen:          100_000,
			BlockTime:       100 * time.Millisecond,
			ClaimIdle:       time.Second,
			ClaimInterval:   200 * time.Millisecond,
			NackResendSleep: testNackResend,
			Concurrency:     1 + 7*int(n%2), // one message in flight at a time, or several
		}, watermill.NopLogger{})
		if err != nil {
			t.Fatalf("NewRedisStream: %v", err)
		}
		t.Cleanup(func() { _ = transport.Close() })
		return transport
	}
	return &transportBackend{
		open: func(t *testing.T) transport.Transport { return open(t, options) },
		topic: func(t *testing.T) string {
			// A prefix of the case's own: testenv deletes its keys at the end.
			_, prefix := testenv.Redis(t)
			return prefix + "topic"
		},
		waitForGroup: func(*testing.T, string, string, int) {},
		openUnreachable: func(t *testing.T) transport.Transport {
			return open(t, &redis.Options{Addr: closedAddress(t), MaxRetries: -1})
		},
	}
}

func sqlBackend(t *testing.T) *transportBackend {
	dsn := testenv.MySQLDatabase(t) // skips, or fails under CI, if MariaDB is down
	open := func(t *testing.T, dsn string) transport.Transport {
		transport, err := transport.NewSQL(dsn, mysqldb.PoolConfig{MaxOpenConns: 16}, transport.SQLConfig{
			PollInterval:    20 * time.Millisecond,
			BatchSize:       10,
			AckDeadline:     30 * time.Second,
			Partitions:      2, // the default
			NackResendSleep: testNackResend,
		}, watermill.NopLogger{})
		if err != nil {
			t.Fatalf("NewSQL: %v", err)
		}
		t.Cleanup(func() { _ = transport.Close() })
		return transport
	}
	return &transportBackend{
		open:         func(t *testing.T) transport.Transport { return open(t, dsn) },
		topic:        func(*testing.T) string { return testenv.UniqueName("topic.") },
		waitForGroup: func(*testing.T, string, string, int) {},
		openUnreachable: func(t *testing.T) transport.Transport {
			return open(t, "root@tcp("+closedAddress(t)+")/techradar?timeout=2s")
		},
	}
}

func kafkaBackend(t *testing.T) *transportBackend {
	brokers := startKafka(t)
	open := func(t *testing.T, brokers []string) transport.Transport { return openKafka(t, brokers, 4, 16) }
	return &transportBackend{
		open:  func(t *testing.T) transport.Transport { return open(t, brokers) },
		topic: func(*testing.T) string { return testenv.UniqueName("topic.") },
		waitForGroup: func(t *testing.T, topic, group string, members int) {
			waitForKafkaGroup(t, brokers, topic, group, members)
		},
		openUnreachable: func(t *testing.T) transport.Transport {
			// Construction needs a broker that answers; it goes down after.
			cluster := startKafkaCluster(t)
			transport := open(t, cluster.ListenAddrs())
			cluster.Close()
			return transport
		},
	}
}

// openKafka opens a Kafka transport on brokers whose topics have partitions
// partitions, each with inFlight messages handed over at once; the test
// closes it at the end.
func openKafka(t *testing.T, brokers []string, partitions int32, inFlight int) transport.Transport {
	t.Helper()
	opened, err := transport.NewKafka(transport.KafkaConfig{
		Brokers:              brokers,
		ClientID:             "techradar",
		TopicPartitions:      partitions,
		ReplicationFactor:    1,
		SessionTimeout:       2 * time.Second,
		NackResendSleep:      testNackResend,
		InFlightPerPartition: inFlight,
		PublishTimeout:       10 * time.Second,
		Idempotent:           true,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewKafka: %v", err)
	}
	t.Cleanup(func() { _ = opened.Close() })
	return opened
}

func startKafka(t *testing.T) []string { return startKafkaCluster(t).ListenAddrs() }

func startKafkaCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.GroupMinSessionTimeout(time.Second),
	)
	if err != nil {
		t.Fatalf("starting an in-process Kafka: %v", err)
	}
	t.Cleanup(cluster.Close)
	return cluster
}

// waitForKafkaGroup waits for the group to settle with its members each
// holding partitions of topic: a message published during a rebalance may be
// handled by the member losing its partition and again by the one taking it.
// With topic empty, whatever each member holds.
func waitForKafkaGroup(t *testing.T, brokers []string, topic, group string, members int) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, sarama.NewConfig())
	if err != nil {
		t.Fatalf("kafka admin: %v", err)
	}
	defer admin.Close()
	eventually(t, func() bool {
		groups, err := admin.DescribeConsumerGroups([]string{group})
		if err != nil || len(groups) != 1 || groups[0].State != "Stable" || len(groups[0].Members) != members {
			return false
		}
		if topic == "" {
			return true
		}
		for _, member := range groups[0].Members {
			assignment, err := member.GetMemberAssignment()
			if err != nil || assignment == nil || len(assignment.Topics[topic]) == 0 {
				return false
			}
		}
		return true
	}, fmt.Sprintf("kafka group %s never settled with %d members", group, members))
}

// Helpers.

// subscribe subscribes to topic as group on a new subscriber, closed at the
// end of the test.
func subscribe(t *testing.T, transport transport.Transport, topic, group string) <-chan *message.Message {
	t.Helper()
	subscriber, err := transport.Subscriber(group)
	if err != nil {
		t.Fatalf("subscriber for %s: %v", group, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	messages, err := subscriber.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		t.Fatalf("subscribe to %s as %s: %v", topic, group, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = subscriber.Close()
	})
	return messages
}

// publishAsync publishes in the background, since gochannel's Publish waits
// for the subscriber's ack; the returned func waits for it to end.
func publishAsync(t *testing.T, transport transport.Transport, topic string, messages ...*message.Message) (wait func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- transport.Publisher().Publish(topic, messages...) }()
	return func() {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("publish to %s: %v", topic, err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("publish to %s did not return within %s", topic, waitLimit)
		}
	}
}

func receive(t *testing.T, messages <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-messages:
		if !ok {
			t.Fatal("the subscription closed")
		}
		return msg
	case <-time.After(waitLimit):
		t.Fatalf("no message within %s", waitLimit)
	}
	return nil
}

func closeWithin(t *testing.T, closer interface{ Close() error }) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- closer.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("Close did not return within %s", waitLimit)
	}
}

func eventually(t *testing.T, condition func() bool, failure string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("%s within %s", failure, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newMessages(n int) []*message.Message {
	messages := make([]*message.Message, n)
	for i := range messages {
		messages[i] = message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, `{"n":%d}`, i))
	}
	return messages
}

func assertEachOnce(t *testing.T, sent []*message.Message, got map[string]int) {
	t.Helper()
	for _, msg := range sent {
		if n := got[msg.UUID]; n != 1 {
			t.Errorf("message %s handled %d times, want once", msg.UUID, n)
		}
	}
	if len(got) != len(sent) {
		t.Errorf("got %d distinct messages, want %d", len(got), len(sent))
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// closedAddress is a local address nothing listens on: connecting to it is
// refused at once.
func closedAddress(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := listener.Addr().String()
	_ = listener.Close()
	return addr
}
