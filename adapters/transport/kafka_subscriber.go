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
	"github.com/twmb/franz-go/pkg/kgo"
)

// The subscriber is a consumer group member of its own, on franz-go, rather
// than Watermill's Kafka subscriber. The library's subscriber, on Sarama,
// ran two goroutines for every partition (about 2,100 on an idle service,
// whose stacks the collector scans) and handed a partition's messages over
// one at a time, reading the next only once the one before was acked; under
// load Sarama, producer included, took 31% of the service's CPU
// (docs/BENCHMARKS.md).
//
// One fetch loop reads every partition a member holds. It keeps what the
// library guaranteed, and hands up to KafkaConfig.InFlightPerPartition
// messages of a partition over at once:
//   - a partition's offset is marked only past messages the handlers acked
//     with every message before them acked too, and the marks are committed
//     every second and when the partitions are given up: a crash or a
//     rebalance redelivers every message not acked, those acked after it in
//     its partition, and the acked ones of the last second;
//   - rebalances wait while a fetch is being shared out among the partitions
//     (BlockRebalanceOnPoll), so a record always goes to the claim of the
//     assignment it was fetched in; a claim ends when its partition is
//     revoked or lost, and its messages still in flight then mark nothing:
//     the partition's next owner hands them over again;
//   - a partition whose messages wait for room stops being fetched once
//     twice that many wait (the client's pause), so that a slow partition
//     takes no more of the fetched records' room than one fetch gives it;
//   - a copy the handlers nack is handed over again after the resend pause;
//   - the messages are read as Watermill's subscriber reads them (its default
//     marshaler), so either side reads what the other wrote.

const (
	// kafkaWaitingRecords bounds the records fetched and not yet in flight,
	// over every partition of a subscription: the loop fetches no more until
	// the handlers take some.
	kafkaWaitingRecords = 1024
	// kafkaCommitTimeout bounds the commit of the marks when partitions are
	// given up or the subscriber closes.
	kafkaCommitTimeout  = 5 * time.Second
	kafkaCommitInterval = time.Second
	// kafkaLeaveTimeout bounds the leave of the group when a subscription
	// ends, the commit of the marks included: a broker that does not answer
	// keeps the partitions until the session times out instead.
	kafkaLeaveTimeout = 10 * time.Second
	// kafkaFetchMaxBytes bounds a fetch, the most a subscription's client
	// holds from each broker before the loop takes it (a record larger than
	// that still comes alone). The client's default, 50 MiB, would let a
	// backlog fill hundreds of MB over a service's subscriptions.
	kafkaFetchMaxBytes = 1 << 20
)

// kafkaSubscriber consumes as a member of a consumer group, with a client of
// its own for each Subscribe.
type kafkaSubscriber struct {
	config      KafkaConfig
	group       string
	logger      watermill.LoggerAdapter
	createTopic func(topic string) error

	mu            sync.Mutex
	closed        bool
	closing       chan struct{}
	subscriptions []*kafkaConsumer
}

var _ message.Subscriber = (*kafkaSubscriber)(nil)

var errKafkaSubscriberClosed = errors.New("kafka subscriber: closed")

func newKafkaSubscriber(config KafkaConfig, group string, logger watermill.LoggerAdapter, createTopic func(string) error) *kafkaSubscriber {
	return &kafkaSubscriber{
		config:      config,
		group:       group,
		logger:      logger,
		createTopic: createTopic,
		closing:     make(chan struct{}),
	}
}

func (s *kafkaSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if s.isClosed() {
		return nil, errKafkaSubscriberClosed
	}
	if err := s.createTopic(topic); err != nil {
		return nil, err
	}
	output := make(chan *message.Message)
	c := &kafkaConsumer{
		topic:    topic,
		output:   output,
		ctx:      ctx,
		closing:  s.closing,
		resend:   s.config.NackResendSleep,
		inFlight: s.config.InFlightPerPartition,
		logger:   s.logger.With(watermill.LogFields{"topic": topic, "consumer_group": s.group}),
		claims:   map[int32]*kafkaClaim{},
		waiting:  make(chan struct{}, kafkaWaitingRecords),
		stopped:  make(chan struct{}),
	}
	// The client joins the group as soon as it exists, and the group's
	// callbacks may start claims, each counted in sending, before Subscribe
	// returns: sending counts the fetch loop from here on, so that it is
	// never zero while the client lives.
	c.sending.Add(1)
	client, err := kgo.NewClient(s.config.consumerOptions(s.group, topic, c)...)
	if err != nil {
		c.sending.Done()
		return nil, fmt.Errorf("kafka subscriber for %s: %w", topic, err)
	}
	c.client = client
	fail := func(err error) (<-chan *message.Message, error) {
		c.closeClient() // ends the claims started meanwhile
		c.sending.Done()
		return nil, err
	}
	// Like the library's subscriber, Subscribe returns once a broker
	// answered: a wrong address fails here rather than in the logs.
	pingCtx, cancel := context.WithTimeout(ctx, kafkaDialTimeout)
	err = client.Ping(pingCtx)
	cancel()
	if err != nil {
		return fail(fmt.Errorf("kafka subscriber for %s: reaching the brokers %v: %w", topic, s.config.Brokers, err))
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fail(errKafkaSubscriberClosed)
	}
	s.subscriptions = append(s.subscriptions, c)
	s.mu.Unlock()

	go c.run()
	go func() {
		c.sending.Wait()
		close(output)
		close(c.stopped)
	}()
	return output, nil
}

func (s *kafkaSubscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops handing messages over, commits what was marked, leaves the
// group, and returns once every output is closed. Acks that come after it
// mark nothing: their messages are handed over again, to whichever member
// takes the partition.
func (s *kafkaSubscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	subscriptions := s.subscriptions
	s.mu.Unlock()

	// Closing s.closing ended them all at once; each closes its output.
	for _, c := range subscriptions {
		<-c.stopped
	}
	return nil
}

// consumerOptions are the client options of a member of group reading
// topic, with c's callbacks.
func (c KafkaConfig) consumerOptions(group, topic string, consumer *kafkaConsumer) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(kafkaDialTimeout),
		kgo.WithLogger(kafkaLogger{consumer.logger}),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.FetchMaxBytes(kafkaFetchMaxBytes),
		kgo.FetchMaxPartitionBytes(kafkaFetchMaxBytes),
		// A new group starts at the oldest message kept.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(c.SessionTimeout),
		kgo.HeartbeatInterval(c.SessionTimeout / 3),
		// Eager rebalancing: every partition is revoked at a rebalance, so a
		// claim is one partition for one assignment.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(kafkaCommitInterval),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(consumer.assigned),
		kgo.OnPartitionsRevoked(consumer.revoked),
		kgo.OnPartitionsLost(consumer.lost),
	}
}

// kafkaConsumer is one Subscribe's group member: its fetch loop, its claims
// and what it hands over.
type kafkaConsumer struct {
	topic    string
	client   *kgo.Client
	output   chan<- *message.Message
	ctx      context.Context // the subscription's
	closing  <-chan struct{}
	resend   time.Duration
	inFlight int
	logger   watermill.LoggerAdapter

	mu     sync.Mutex
	claims map[int32]*kafkaClaim

	// waiting holds a token for every record fetched and not yet in flight.
	waiting chan struct{}
	// sending counts the goroutines that may still send on output.
	sending sync.WaitGroup
	stopped chan struct{} // closed once output is
}

// run fetches and shares the records out among the claims until the
// subscription or the subscriber ends; it then commits the marks and leaves
// the group.
func (c *kafkaConsumer) run() {
	defer c.sending.Done()
	defer c.leave()
	ctx, cancel := cancelOnClose(c.ctx, c.closing)
	defer cancel()
	for {
		// Fetch no more than there is room for.
		select {
		case c.waiting <- struct{}{}:
			<-c.waiting
		case <-ctx.Done():
			return
		}
		fetches := c.client.PollRecords(ctx, cap(c.waiting)-len(c.waiting))
		if ctx.Err() != nil || fetches.IsClientClosed() {
			c.client.AllowRebalance()
			return
		}
		failed := false
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			failed = true
			c.logger.Error("Kafka fetch failed", err, watermill.LogFields{"partition": partition})
		})
		c.share(fetches)
		c.client.AllowRebalance()
		if failed && fetches.NumRecords() == 0 {
			// The client retries on its own; this only keeps a broker that
			// keeps failing from filling the logs.
			select {
			case <-time.After(kafkaReconnectRetrySleep):
			case <-ctx.Done():
				return
			}
		}
	}
}

// share queues each fetched record on its partition's claim. It runs while
// rebalances wait, so every record has the claim of its assignment.
func (c *kafkaConsumer) share(fetches kgo.Fetches) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fetches.EachRecord(func(r *kgo.Record) {
		claim := c.claims[r.Partition]
		if claim == nil {
			return // a partition no longer held; its next owner reads it
		}
		c.waiting <- struct{}{} // never blocks: the poll asked for no more
		claim.queue <- r        // nor this: a claim's queue holds as many
		claim.pauseWhenFull(c.client)
	})
}

// assigned starts a claim for each partition given to the member. A
// partition paused by a claim of an earlier assignment is fetched again.
func (c *kafkaConsumer) assigned(_ context.Context, client *kgo.Client, assigned map[string][]int32) {
	client.ResumeFetchPartitions(assigned)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, partition := range assigned[c.topic] {
		if earlier := c.claims[partition]; earlier != nil {
			earlier.end() // the rebalancing is eager: never expected
		}
		claim := newKafkaClaim(c.topic, partition, c.inFlight, c.mark)
		claim.queue = make(chan *kgo.Record, cap(c.waiting))
		c.claims[partition] = claim
		c.sending.Add(1)
		go c.feed(claim)
	}
}

// revoked ends the claims of the partitions taken away and commits their
// marks, so that their next owner starts past them.
func (c *kafkaConsumer) revoked(ctx context.Context, client *kgo.Client, revoked map[string][]int32) {
	c.endClaims(revoked[c.topic])
	c.commitMarks(ctx, client)
}

// lost ends the claims of the partitions lost; a commit would fail.
func (c *kafkaConsumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.endClaims(lost[c.topic])
}

func (c *kafkaConsumer) endClaims(partitions []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, partition := range partitions {
		if claim := c.claims[partition]; claim != nil {
			claim.end()
			delete(c.claims, partition)
		}
	}
}

// commitMarks commits what was marked. It takes the client as the group's
// callbacks pass it: they may run before Subscribe has set c.client.
func (c *kafkaConsumer) commitMarks(ctx context.Context, client *kgo.Client) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kafkaCommitTimeout)
	defer cancel()
	if err := client.CommitMarkedOffsets(ctx); err != nil {
		c.logger.Error("Committing the Kafka offsets failed: the messages after them will be handled again", err, nil)
	}
}

// leave ends every claim and leaves the group, whose revocation commits the
// marks, within kafkaLeaveTimeout; then it closes the client.
func (c *kafkaConsumer) leave() {
	c.mu.Lock()
	for partition, claim := range c.claims {
		claim.end()
		delete(c.claims, partition)
	}
	c.mu.Unlock()
	c.closeClient()
}

// closeClient leaves the group within kafkaLeaveTimeout, the revocation
// committing the marks, and closes the client.
func (c *kafkaConsumer) closeClient() {
	ctx, cancel := context.WithTimeout(context.Background(), kafkaLeaveTimeout)
	defer cancel()
	if err := c.client.LeaveGroupContext(ctx); err != nil {
		c.logger.Error("Leaving the Kafka consumer group failed: its partitions wait for the session timeout", err, nil)
	}
	c.client.Close()
}

// mark records that the group may commit partition's offset at next, read
// in the leader epoch epoch. The epoch matters: the client moves a mark only
// forward, comparing epochs first, and a commit of another client may carry
// one.
func (c *kafkaConsumer) mark(partition, epoch int32, next int64) {
	c.client.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{
		c.topic: {partition: {Epoch: epoch, Offset: next}},
	})
}

// feed takes the claim's records in flight, in offset order, as room frees,
// until the claim, the subscription or the subscriber ends.
func (c *kafkaConsumer) feed(claim *kafkaClaim) {
	defer c.sending.Done()
	defer func() {
		// What was fetched for the claim and not taken is its next owner's.
		for {
			select {
			case <-claim.queue:
				<-c.waiting
			default:
				return
			}
		}
	}()
	for {
		var r *kgo.Record
		select {
		case r = <-claim.queue:
		case <-claim.ctx.Done():
			return
		case <-c.closing:
			return
		case <-c.ctx.Done():
			return
		}
		claim.resumeWhenDrained(c.client)
		reserved := claim.reserve(c.closing, c.ctx.Done())
		<-c.waiting
		if !reserved {
			// The claim is abandoned: the records queued after this one are
			// dropped too, as they come, so that they free their room.
			continue
		}
		pending, ok := claim.add(r.Offset, r.LeaderEpoch)
		if !ok {
			c.logger.Error("Kafka record out of offset order: the partition's messages wait for its next owner", nil,
				watermill.LogFields{"partition": r.Partition, "offset": r.Offset})
			continue
		}
		c.sending.Add(1)
		go c.deliver(claim, pending, r)
	}
}

// deliver hands the record over as a message, again after the resend pause
// each time the handlers nack it, until they ack it or the claim, the
// subscription or the subscriber ends.
func (c *kafkaConsumer) deliver(claim *kafkaClaim, pending *kafkaPending, r *kgo.Record) {
	defer c.sending.Done()
	msg := unmarshalKafkaRecord(r)
	// The copies end with the subscription, and, as deliverUntilAcked
	// returns, once acked or with the claim (the partition's next owner hands
	// the message over again).
	ctx, cancel := context.WithCancel(withKafkaOffset(c.ctx, r.Partition, r.Offset))
	defer cancel()

	stops := handoverStops{ended: claim.ctx.Done(), closing: c.closing, cancelled: c.ctx.Done()}
	if deliverUntilAcked(ctx, c.output, msg, c.resend, stops, nil, nil) {
		claim.ack(pending)
	}
}

// unmarshalKafkaRecord reads r as Watermill's Kafka subscriber does.
func unmarshalKafkaRecord(r *kgo.Record) *message.Message {
	headers := make([]*sarama.RecordHeader, len(r.Headers))
	for i, h := range r.Headers {
		headers[i] = &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
	}
	// The default marshaler cannot fail: it reads the headers and the value.
	msg, _ := kafka.DefaultMarshaler{}.Unmarshal(&sarama.ConsumerMessage{
		Headers:   headers,
		Timestamp: r.Timestamp,
		Key:       r.Key,
		Value:     r.Value,
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
	})
	return msg
}

type kafkaOffsetKey struct{}

type kafkaOffset struct {
	partition int32
	offset    int64
}

func withKafkaOffset(ctx context.Context, partition int32, offset int64) context.Context {
	return context.WithValue(ctx, kafkaOffsetKey{}, kafkaOffset{partition, offset})
}

// kafkaMessageOffset is the partition and offset a message handed over by the
// Kafka subscriber was read at.
func kafkaMessageOffset(msg *message.Message) (partition int32, offset int64, ok bool) {
	o, ok := msg.Context().Value(kafkaOffsetKey{}).(kafkaOffset)
	return o.partition, o.offset, ok
}

// kafkaClaim is one partition held by the member for one assignment, and its
// messages in flight.
type kafkaClaim struct {
	topic     string
	partition int32
	mark      func(partition, epoch int32, next int64)
	// queue holds the records fetched and not yet in flight. Past
	// queueLimit the partition's fetches pause, so that a partition whose
	// handlers are slow takes no more of the subscription's room for
	// waiting records than one fetch gives it.
	queue      chan *kgo.Record
	queueLimit int
	// room holds a token for every message in flight; a message leaves once
	// it and every message before it were acked.
	room chan struct{}
	// ctx is cancelled when the partition is revoked or lost, or the member
	// leaves: the claim has ended.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	pending []*kafkaPending // in offset order
	// abandoned is set once the claim ended, or a message found no room or
	// came out of offset order: the claim marks nothing more, and what it
	// holds is handed over again by the partition's next owner.
	abandoned bool
	// lastAdded is the offset of the last message added.
	lastAdded int64
	added     bool
	// paused is set while the claim has its partition's fetches paused.
	paused bool
}

// kafkaPending is a message of the claim in flight.
type kafkaPending struct {
	offset int64
	epoch  int32 // the leader epoch it was read in
	acked  bool
}

func newKafkaClaim(topic string, partition int32, inFlight int, mark func(partition, epoch int32, next int64)) *kafkaClaim {
	ctx, cancel := context.WithCancel(context.Background())
	return &kafkaClaim{
		topic:      topic,
		partition:  partition,
		mark:       mark,
		queueLimit: min(2*inFlight, kafkaWaitingRecords/4),
		room:       make(chan struct{}, inFlight),
		ctx:        ctx,
		cancel:     cancel,
	}
}

// end abandons the claim: from then on it marks nothing.
func (c *kafkaClaim) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return
	}
	c.abandoned = true
	c.cancel()
}

// reserve waits for room for one more message in flight. It reports false
// when the claim, the subscription or the subscriber ends first, and from
// then on: a message that found no room is not added, so a later message
// must not be added after the gap.
func (c *kafkaClaim) reserve(closing, cancelled <-chan struct{}) bool {
	c.mu.Lock()
	abandoned := c.abandoned
	c.mu.Unlock()
	if abandoned {
		return false
	}
	select {
	case c.room <- struct{}{}:
		return true
	case <-c.ctx.Done():
	case <-closing:
	case <-cancelled:
	}
	c.mu.Lock()
	c.abandoned = true
	c.mu.Unlock()
	return false
}

// add records the message at offset as in flight. Messages come in offset
// order; one out of it abandons the claim (ok is false) rather than risk a
// mark past a message in flight.
func (c *kafkaClaim) add(offset int64, epoch int32) (p *kafkaPending, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abandoned || (c.added && offset <= c.lastAdded) {
		c.abandoned = true
		return nil, false
	}
	c.lastAdded, c.added = offset, true
	p = &kafkaPending{offset: offset, epoch: epoch}
	c.pending = append(c.pending, p)
	return p, true
}

// ack records p as acked and marks the partition's offset past the messages
// acked without a gap, which leave and free their room.
func (c *kafkaClaim) ack(p *kafkaPending) {
	c.mu.Lock()
	p.acked = true
	done := 0
	for done < len(c.pending) && c.pending[done].acked {
		done++
	}
	if done == 0 {
		c.mu.Unlock()
		return
	}
	last := c.pending[done-1]
	c.pending = c.pending[done:]
	// Marked under the lock, so that marks are made in offset order and none
	// after the claim ended.
	if !c.abandoned {
		c.mark(c.partition, last.epoch, last.offset+1)
	}
	c.mu.Unlock()
	for range done {
		<-c.room
	}
}

// pauseWhenFull pauses the partition's fetches once the claim's queue
// reaches its limit. The pause and the resume are made under the claim's
// lock, so that they reach the client in the order they were decided.
func (c *kafkaClaim) pauseWhenFull(client *kgo.Client) {
	if len(c.queue) < c.queueLimit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Checked again under the lock: a queue emptied meanwhile would leave
	// no record whose taking resumes the partition.
	if !c.paused && !c.abandoned && len(c.queue) >= c.queueLimit {
		c.paused = true
		client.PauseFetchPartitions(map[string][]int32{c.topic: {c.partition}})
	}
}

// resumeWhenDrained resumes the partition's fetches once the claim's queue
// is down to half its limit. What the client had fetched for a paused
// partition it fetches again.
func (c *kafkaClaim) resumeWhenDrained(client *kgo.Client) {
	if len(c.queue) > c.queueLimit/2 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// An ended claim leaves its partition as it is: the next assignment's
	// claim may have paused it, and the assignment resumed it before.
	if c.paused && c.ctx.Err() == nil {
		c.paused = false
		client.ResumeFetchPartitions(map[string][]int32{c.topic: {c.partition}})
	}
}

// kafkaLogger passes franz-go's errors to the transport's logger. Its
// warnings are left out: it retries on its own, and warns at each retry
// while a broker is down, which /readyz reports already.
type kafkaLogger struct {
	logger watermill.LoggerAdapter
}

func (l kafkaLogger) Level() kgo.LogLevel { return kgo.LogLevelError }

func (l kafkaLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	fields := watermill.LogFields{}
	for i := 0; i+1 < len(keyvals); i += 2 {
		fields[fmt.Sprint(keyvals[i])] = keyvals[i+1]
	}
	l.logger.Error("Kafka client: "+msg, nil, fields)
}
