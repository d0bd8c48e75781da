package transport

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// The library hands a partition's messages over one at a time: it reads the
// next only once the handlers acked the one before. A handler that waits for
// a shared commit (the command handler's group commit) then handles one
// message per commit and partition, and a partition's messages queue behind
// each other's commits. The transport hands up to
// KafkaConfig.InFlightPerPartition messages of a partition over at once
// instead, and keeps what the one-at-a-time order guaranteed: a partition's
// offset is marked only past messages the handlers acked with every message
// before them acked too, so a crash or a rebalance redelivers every message
// not acked, as before.
//
// It sits between the library and the handlers:
//   - the library's tracer hook wraps Sarama's consumer group handler: each
//     claimed partition is recorded with its session (kafkaClaims), and the
//     library gets a session whose marks do nothing;
//   - the library's message is acked as soon as the partition has room and
//     the handlers took a copy of it, so that the library reads the next
//     one: a partition's messages reach the handlers in offset order, and
//     up to that many are handled side by side;
//   - a copy the handlers nack is handed over again after the resend pause;
//   - the handlers' acks mark the partition's offset past the messages
//     acked without a gap, and free their room.

// kafkaSubscriber subscribes each topic with a library subscriber of its own,
// whose partitions it hands over as described above.
type kafkaSubscriber struct {
	config      kafka.SubscriberConfig
	inFlight    int
	logger      watermill.LoggerAdapter
	createTopic func(topic string) error

	mu            sync.Mutex
	closed        bool
	closing       chan struct{}
	subscriptions []*kafkaSubscription
}

// kafkaSubscription is one Subscribe's library subscriber, and what hands its
// messages over.
type kafkaSubscription struct {
	library *kafka.Subscriber
	// outputClosed is closed once the subscription's output is.
	outputClosed chan struct{}
}

var _ message.Subscriber = (*kafkaSubscriber)(nil)

var errKafkaSubscriberClosed = errors.New("kafka subscriber: closed")

func (s *kafkaSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if s.isClosed() {
		return nil, errKafkaSubscriberClosed
	}
	if err := s.createTopic(topic); err != nil {
		return nil, err
	}
	claims := newKafkaClaims(s.inFlight)
	config := s.config
	config.Tracer = kafkaClaimTracer{claims: claims}
	library, err := kafka.NewSubscriber(config, s.logger)
	if err != nil {
		return nil, err
	}
	// The library connects before it returns: no lock is held meanwhile, so
	// that Close does not wait behind a broker that does not answer.
	input, err := library.Subscribe(ctx, topic)
	if err != nil {
		_ = library.Close()
		return nil, err
	}
	output := make(chan *message.Message)
	handover := &kafkaHandover{
		topic:   topic,
		claims:  claims,
		output:  output,
		ctx:     ctx,
		closing: s.closing,
		resend:  s.config.NackResendSleep,
	}
	subscription := &kafkaSubscription{library: library, outputClosed: make(chan struct{})}
	handover.sending.Add(1)
	go handover.run(input)
	go func() {
		handover.sending.Wait()
		close(output)
		close(subscription.outputClosed)
	}()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		// Closed while subscribing: the subscription ends at once, and Close
		// does not wait for it.
		_ = library.Close()
		return nil, errKafkaSubscriberClosed
	}
	s.subscriptions = append(s.subscriptions, subscription)
	s.mu.Unlock()
	return output, nil
}

func (s *kafkaSubscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops handing messages over, closes the library subscribers, and
// returns once every output is closed. Acks that come after it mark nothing:
// their messages are handed over again, to whichever consumer takes the
// partition.
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

	// All at once: until its library subscriber is closed, a subscription
	// reads on and gives up every message it reads.
	errs := make([]error, len(subscriptions))
	var closing sync.WaitGroup
	for i, subscription := range subscriptions {
		closing.Go(func() {
			errs[i] = subscription.library.Close()
			<-subscription.outputClosed
		})
	}
	closing.Wait()
	return errors.Join(errs...)
}

// kafkaHandover gives the handlers of one subscription the messages its
// library subscriber reads.
type kafkaHandover struct {
	topic   string
	claims  *kafkaClaims
	output  chan<- *message.Message
	ctx     context.Context // the subscription's
	closing <-chan struct{}
	resend  time.Duration
	// sending counts the goroutines that may still send on output.
	sending sync.WaitGroup
}

// run hands over what input brings until the library closes it.
func (h *kafkaHandover) run(input <-chan *message.Message) {
	defer h.sending.Done()
	for msg := range input {
		partition, _ := kafka.MessagePartitionFromCtx(msg.Context())
		offset, hasOffset := kafka.MessagePartitionOffsetFromCtx(msg.Context())
		claim := h.claims.find(h.topic, partition)
		if claim == nil || !hasOffset {
			// Every message comes from a claimed partition; this is only a
			// safeguard.
			h.alone(msg)
			continue
		}
		h.sending.Add(1)
		go h.deliver(claim, offset, msg)
	}
}

// alone hands msg over as it came: acked or nacked by the handler itself,
// neither of which marks anything (the library's session is the one whose
// marks do nothing).
func (h *kafkaHandover) alone(msg *message.Message) {
	select {
	case h.output <- msg:
	case <-h.closing:
	case <-h.ctx.Done():
	}
}

// deliver waits for room in the claim, records the message as in flight,
// gives the handlers a copy and then lets the library read the partition's
// next message, and hands the copy over again, after the resend pause, each
// time the handlers nack it, until they ack it or the claim or the
// subscription ends.
func (h *kafkaHandover) deliver(claim *kafkaClaim, offset int64, original *message.Message) {
	defer h.sending.Done()
	// The library's ack only lets it read on: the session it marks with
	// marks nothing. It is acked however deliver ends, so that the library
	// never waits for it.
	defer original.Ack()
	if !claim.reserve(h.closing, h.ctx.Done()) {
		return
	}
	pending, ok := claim.add(offset)
	if !ok {
		return
	}

	// The copies keep the library's context values (partition, offset,
	// timestamp, key) and end with the subscription, as the library's own
	// message does; they also end once acked, and with the claim's session:
	// a message whose session ended is handed over again by the partition's
	// next owner.
	ctx, cancel := context.WithCancel(context.WithoutCancel(original.Context()))
	defer cancel()
	stopWithSubscription := context.AfterFunc(h.ctx, cancel)
	defer stopWithSubscription()
	stopWithSession := context.AfterFunc(claim.session.Context(), cancel)
	defer stopWithSession()

	stops := handoverStops{ended: claim.session.Context().Done(), closing: h.closing, cancelled: h.ctx.Done()}
	// Handed over: the library may read the next message, which then reaches
	// the handlers after this one.
	if deliverUntilAcked(ctx, h.output, original.Copy(), h.resend, stops, func() { original.Ack() }, nil) {
		claim.ack(pending)
	}
}

// kafkaClaim is one partition claimed by a consumer group session, and its
// messages in flight.
type kafkaClaim struct {
	session   sarama.ConsumerGroupSession
	topic     string
	partition int32
	// room holds a token for every message in flight; a message leaves once
	// it and every message before it were acked.
	room chan struct{}

	mu      sync.Mutex
	pending []*kafkaPending // in offset order
	// abandoned is set once a message found no room: the library reads on
	// past it, so no later message may be added after that gap. The claim
	// marks nothing more either; what it holds is handed over again by the
	// partition's next owner.
	abandoned bool
	// lastAdded is the offset of the last message added.
	lastAdded int64
	added     bool
}

// kafkaPending is a message of the claim in flight.
type kafkaPending struct {
	offset int64
	acked  bool
}

func newKafkaClaim(session sarama.ConsumerGroupSession, topic string, partition int32, inFlight int) *kafkaClaim {
	return &kafkaClaim{
		session:   session,
		topic:     topic,
		partition: partition,
		room:      make(chan struct{}, inFlight),
	}
}

// reserve waits for room for one more message in flight. It reports false
// when the session, the subscription or the subscriber ends first, and from
// then on: the message that found no room is not added, yet the library
// reads on past it, so a later message must not be added after the gap.
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
	case <-c.session.Context().Done():
	case <-closing:
	case <-cancelled:
	}
	c.mu.Lock()
	c.abandoned = true
	c.mu.Unlock()
	return false
}

// add records the message at offset as in flight. Messages come in offset
// order: the library reads a partition's next message only once the one
// before was added and handed over, or the claim abandoned. A message out of
// that order abandons the claim (ok is false) rather than risk a mark past a
// message in flight.
func (c *kafkaClaim) add(offset int64) (p *kafkaPending, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abandoned || (c.added && offset <= c.lastAdded) {
		c.abandoned = true
		return nil, false
	}
	c.lastAdded, c.added = offset, true
	p = &kafkaPending{offset: offset}
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
	next := c.pending[done-1].offset + 1
	c.pending = c.pending[done:]
	// Marked under the lock, so that marks are made in offset order.
	if !c.abandoned && c.session.Context().Err() == nil {
		c.session.MarkOffset(c.topic, c.partition, next, "")
	}
	c.mu.Unlock()
	for range done {
		<-c.room
	}
}

// kafkaClaims are the partitions a subscription's consumer group session
// holds, by topic and partition.
type kafkaClaims struct {
	inFlight int // the room of each claim
	mu       sync.Mutex
	claims   map[kafkaPartition]*kafkaClaim
}

type kafkaPartition struct {
	topic     string
	partition int32
}

func newKafkaClaims(inFlight int) *kafkaClaims {
	return &kafkaClaims{inFlight: inFlight, claims: map[kafkaPartition]*kafkaClaim{}}
}

func (cs *kafkaClaims) find(topic string, partition int32) *kafkaClaim {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.claims[kafkaPartition{topic, partition}]
}

// hold records claim while its partition is consumed. A partition is
// consumed by one ConsumeClaim at a time: with the eager rebalancing the
// consumer configuration sets, a session ends only once every ConsumeClaim
// of it returned, and the next one starts after.
func (cs *kafkaClaims) hold(claim *kafkaClaim) (release func()) {
	key := kafkaPartition{claim.topic, claim.partition}
	cs.mu.Lock()
	cs.claims[key] = claim
	cs.mu.Unlock()
	return func() {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		if cs.claims[key] == claim {
			delete(cs.claims, key)
		}
	}
}

// kafkaClaimTracer is the library's hook around Sarama: the only one it
// offers into the consumer group's handler. It traces nothing.
type kafkaClaimTracer struct {
	claims *kafkaClaims
}

var _ kafka.SaramaTracer = kafkaClaimTracer{}

func (t kafkaClaimTracer) WrapConsumerGroupHandler(h sarama.ConsumerGroupHandler) sarama.ConsumerGroupHandler {
	return kafkaClaimingHandler{ConsumerGroupHandler: h, claims: t.claims}
}

func (kafkaClaimTracer) WrapConsumer(c sarama.Consumer) sarama.Consumer { return c }

func (kafkaClaimTracer) WrapPartitionConsumer(pc sarama.PartitionConsumer) sarama.PartitionConsumer {
	return pc
}

func (kafkaClaimTracer) WrapSyncProducer(_ *sarama.Config, p sarama.SyncProducer) sarama.SyncProducer {
	return p
}

// kafkaClaimingHandler records each claim for the handover, and gives the
// library a session whose marks do nothing: the handover marks.
type kafkaClaimingHandler struct {
	sarama.ConsumerGroupHandler
	claims *kafkaClaims
}

func (h kafkaClaimingHandler) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	release := h.claims.hold(newKafkaClaim(session, claim.Topic(), claim.Partition(), h.claims.inFlight))
	defer release()
	return h.ConsumerGroupHandler.ConsumeClaim(kafkaUnmarkedSession{session}, claim)
}

// kafkaUnmarkedSession is a session whose marks do nothing.
type kafkaUnmarkedSession struct {
	sarama.ConsumerGroupSession
}

func (kafkaUnmarkedSession) MarkMessage(*sarama.ConsumerMessage, string) {}

func (kafkaUnmarkedSession) MarkOffset(string, int32, int64, string) {}
