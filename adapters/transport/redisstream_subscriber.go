package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/internal/periodic"
)

// How the subscriber batches, retries and gives up; the settings that matter
// to an operator are in RedisStreamConfig.
const (
	// redisStreamAckDelay is how long an acknowledgement waits for others to
	// share its XACK. Handlers that run together finish together: a few
	// milliseconds gather most of them, and delay no message's redelivery
	// guarantee, only the moment its entry leaves the pending list.
	redisStreamAckDelay = 2 * time.Millisecond
	// redisStreamAckTimeout bounds one XACK; redisStreamAckAttempts is how
	// often a batch is tried while the subscription runs, and
	// redisStreamFinalAckAttempts once it is stopping, so that a Redis that
	// hangs cannot hold a shutdown. A batch given up on stays pending: its
	// entries are delivered again (claimed, or re-read at the next start).
	redisStreamAckTimeout       = 2 * time.Second
	redisStreamAckAttempts      = 5
	redisStreamFinalAckAttempts = 2
	// A failed read is tried again after a pause that doubles from the first
	// to the last of these, so that Redis restarting is not hammered.
	redisStreamFirstRetry = 100 * time.Millisecond
	redisStreamLastRetry  = 5 * time.Second
	// redisStreamClaimCalls bounds the XAUTOCLAIM calls of one claim round;
	// what is left is taken at the next round.
	redisStreamClaimCalls = 16
	// Every redisStreamConsumerCheck, a subscription removes from its group
	// at most redisStreamConsumerRemovals consumers that hold nothing and
	// have been idle for redisStreamConsumerTimeout (crashed processes: each
	// start names a new consumer), so that the group's list stays bounded.
	redisStreamConsumerCheck    = 5 * time.Minute
	redisStreamConsumerTimeout  = 10 * time.Minute
	redisStreamConsumerRemovals = 100
)

// redisStreamSubscriber is one consumer of one group: it reads its group's
// entries in batches, hands up to Concurrency of them to the handler at once,
// and acknowledges those the handler acked in batches too. Each read, ack and
// claim is one round trip for many entries, where the library's subscriber
// makes two round trips for each entry.
//
// Guarantees: an entry is acknowledged (XACK) only after its message was
// acked (at least once); a nacked message is handed over again after
// NackResendSleep while the others go on; entries this consumer owned before
// a restart are read again first; those idle for ClaimIdle in another
// consumer (a crashed process) are claimed every ClaimInterval; an entry the
// message format cannot read becomes a message that says so.
//
// It reads on a connection of its own, because a blocking read holds it for
// up to BlockTime, and acknowledges on another; claims and consumer checks
// run between reads, on the read connection.
type redisStreamSubscriber struct {
	group    string
	consumer string
	config   RedisStreamConfig
	logger   watermill.LoggerAdapter
	streams  *redisStreamNames
	reads    *redis.Client
	acks     *redis.Client
	// ackDelay is redisStreamAckDelay; tests lengthen it to see the batches.
	ackDelay time.Duration
	// giveUp is closed when the transport closes: from then on no handler
	// will ack anything, and a stopping subscription waits for none.
	giveUp <-chan struct{}

	mu            sync.Mutex
	subscribed    bool
	closing       chan struct{}
	subscriptions sync.WaitGroup
	closeOnce     sync.Once
	closed        chan struct{}
	closeErr      error
}

var _ message.Subscriber = (*redisStreamSubscriber)(nil)

func newRedisStreamSubscriber(options *redis.Options, group string, config RedisStreamConfig, streams *redisStreamNames, giveUp <-chan struct{}, logger watermill.LoggerAdapter) *redisStreamSubscriber {
	readOptions := *options
	readOptions.PoolSize, readOptions.MinIdleConns, readOptions.MaxIdleConns = 1, 0, 1
	ackOptions := readOptions
	// Deadlines of the contexts bound each XACK, retries included.
	ackOptions.ContextTimeoutEnabled = true
	return &redisStreamSubscriber{
		group: group, consumer: config.Consumer, config: config, streams: streams, giveUp: giveUp,
		logger:   logger.With(watermill.LogFields{"provider": "redis", "consumer_group": group, "consumer": config.Consumer}),
		ackDelay: redisStreamAckDelay,
		reads:    redis.NewClient(&readOptions),
		acks:     redis.NewClient(&ackOptions),
		closing:  make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Subscribe creates the group at the oldest entry of topic if it does not
// exist and starts reading. A subscriber reads one topic: a second Subscribe
// is refused. The subscription ends, and its channel closes, when ctx is done
// or the subscriber closes.
func (s *redisStreamSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closing:
		return nil, fmt.Errorf("redis streams subscriber for group %s: closed", s.group)
	default:
	}
	if s.subscribed {
		return nil, fmt.Errorf("redis streams subscriber for group %s: already subscribed; a subscriber reads one topic", s.group)
	}
	s.streams.add(topic)
	if err := createRedisStreamGroup(ctx, s.reads, topic, s.group); err != nil {
		return nil, fmt.Errorf("redis streams subscriber for group %s: %w", s.group, err)
	}
	s.subscribed = true
	sub := newRedisStreamSubscription(s, topic)
	s.subscriptions.Add(1)
	go func() {
		defer s.subscriptions.Done()
		sub.run(ctx)
	}()
	return sub.output, nil
}

// Close stops reading, waits for the messages in flight to be acked, up to
// ClaimIdle (after which another consumer may take them anyway) or until the
// transport closes, acknowledges those that were, and closes the
// subscriber's connections. A second Close waits for the first.
func (s *redisStreamSubscriber) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.closing)
		s.mu.Unlock()
		s.subscriptions.Wait()
		var errs []error
		for _, client := range []*redis.Client{s.reads, s.acks} {
			if err := client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("closing the redis streams subscriber for group %s: %w", s.group, err)
		}
		close(s.closed)
	})
	<-s.closed
	return s.closeErr
}

// createRedisStreamGroup creates group at the oldest entry of stream, and the
// stream if need be; a group that exists is left as it is.
func createRedisStreamGroup(ctx context.Context, client *redis.Client, stream, group string) error {
	err := client.XGroupCreateMkStream(ctx, stream, group, redisStreamFromOldest).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating group %s on %s: %w", group, stream, err)
	}
	return nil
}

// redisStreamSubscription is the reading of one stream: a reader that fills
// ready, a dispatcher that hands what is ready to the handler while fewer
// than Concurrency messages are in flight, a goroutine per message in flight
// that waits for its ack or nack, and an acknowledger that batches the acks.
type redisStreamSubscription struct {
	*redisStreamSubscriber
	stream string
	output chan *message.Message
	// outputMu lets the message goroutines hand over while the output is
	// open, and the end of the subscription close it once none is.
	outputMu     sync.RWMutex
	outputClosed bool
	// ready holds the entries read and not yet handed over; taken tells the
	// reader that there is room again.
	ready chan redis.XMessage
	taken chan struct{}
	// inFlight holds a token per message handed over and not yet acked.
	inFlight chan struct{}
	// acked carries the ids of the entries whose message was acked to the
	// acknowledger.
	acked      chan string
	delivering sync.WaitGroup
	held       heldRedisStreamEntries
	// handling is the context of the messages: cancelled when the
	// subscription stops waiting for their acks.
	handling       context.Context
	stopWaitingFor context.CancelFunc
}

func newRedisStreamSubscription(s *redisStreamSubscriber, stream string) *redisStreamSubscription {
	n := s.config.Concurrency
	return &redisStreamSubscription{
		redisStreamSubscriber: s,
		stream:                stream,
		output:                make(chan *message.Message),
		ready:                 make(chan redis.XMessage, n),
		taken:                 make(chan struct{}, 1),
		inFlight:              make(chan struct{}, n),
		acked:                 make(chan string, n),
		held:                  heldRedisStreamEntries{ids: map[string]struct{}{}},
	}
}

// run reads until ctx is done or the subscriber closes, then closes the
// output, waits (bounded) for the messages in flight, and flushes their acks.
func (s *redisStreamSubscription) run(ctx context.Context) {
	s.logger.Info("Subscribing to redis stream topic", watermill.LogFields{"topic": s.stream})
	s.handling, s.stopWaitingFor = context.WithCancel(context.WithoutCancel(ctx))
	defer s.stopWaitingFor()
	reading, stopReading := cancelOnClose(ctx, s.closing)
	defer stopReading()

	acknowledged := make(chan struct{})
	go func() {
		defer close(acknowledged)
		s.acknowledge(reading)
	}()
	var workers sync.WaitGroup
	workers.Go(func() { s.read(reading) })
	workers.Go(func() { s.dispatch(reading) })

	<-reading.Done()
	// A blocking read returns only after BlockTime; closing its connection
	// ends it now. Claims and consumer checks run on it too.
	_ = s.reads.Close()
	workers.Wait()
	s.closeOutput()
	s.waitForInFlight()
	close(s.acked)
	<-acknowledged
	s.logger.Debug("Redis stream subscription ended", watermill.LogFields{"topic": s.stream})
}

// waitForInFlight waits until every message handed over is acked or nacked,
// at most ClaimIdle or until the transport closes; the messages then still
// in flight are left pending, for this consumer's next start or for another
// consumer's claim.
func (s *redisStreamSubscription) waitForInFlight() {
	settled := make(chan struct{})
	go func() {
		s.delivering.Wait()
		close(settled)
	}()
	limit := time.NewTimer(s.config.ClaimIdle)
	defer limit.Stop()
	select {
	case <-settled:
		return
	case <-limit.C:
		s.logger.Info("Stopped waiting for the messages in flight; they stay pending", watermill.LogFields{"topic": s.stream, "waited": s.config.ClaimIdle.String()})
	case <-s.giveUp:
	}
	s.stopWaitingFor()
	<-settled
}

// read reads this consumer's own pending entries first, then new ones, in
// batches as large as there is room for, claiming idle entries of other
// consumers every ClaimInterval in between.
func (s *redisStreamSubscription) read(ctx context.Context) {
	s.removeIdleConsumers(ctx)
	nextCheck := time.Now().Add(redisStreamConsumerCheck)
	s.readOwnPending(ctx)
	nextClaim := time.Now()
	retry := redisStreamRetry{first: redisStreamFirstRetry, last: redisStreamLastRetry}
	for ctx.Err() == nil {
		if now := time.Now(); !now.Before(nextClaim) {
			s.claimIdle(ctx)
			nextClaim = now.Add(s.config.ClaimInterval)
		}
		if now := time.Now(); !now.Before(nextCheck) {
			s.removeIdleConsumers(ctx)
			nextCheck = now.Add(redisStreamConsumerCheck)
		}
		room := s.waitForRoom(ctx)
		if room == 0 {
			return
		}
		// Never past the next claim round; never 0, which blocks for good.
		block := max(time.Millisecond, min(s.config.BlockTime, time.Until(nextClaim)))
		streams, err := s.reads.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: s.group, Consumer: s.consumer, Streams: []string{s.stream, ">"}, Count: int64(room), Block: block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			retry.reset()
			continue
		}
		if err != nil {
			if !s.readFailed(ctx, err, &retry) {
				return
			}
			continue
		}
		retry.reset()
		if !s.enqueueAll(ctx, streams) {
			return
		}
	}
}

// readOwnPending reads the entries delivered to this consumer and never
// acknowledged: a process restarted under the same consumer name owns them,
// and no other consumer claims them before ClaimIdle.
func (s *redisStreamSubscription) readOwnPending(ctx context.Context) {
	after := "0"
	retry := redisStreamRetry{first: redisStreamFirstRetry, last: redisStreamLastRetry}
	for ctx.Err() == nil {
		room := s.waitForRoom(ctx)
		if room == 0 {
			return
		}
		streams, err := s.reads.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: s.group, Consumer: s.consumer, Streams: []string{s.stream, after}, Count: int64(room), Block: -1,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if !s.readFailed(ctx, err, &retry) {
				return
			}
			continue
		}
		if len(streams) == 0 || len(streams[0].Messages) == 0 {
			return
		}
		if !s.enqueueAll(ctx, streams) {
			return
		}
		entries := streams[0].Messages
		after = entries[len(entries)-1].ID
	}
}

// readFailed logs a read error and waits before the next try; it reports
// false when the subscription is stopping. A group that vanished (Redis
// restarted empty) is created again.
func (s *redisStreamSubscription) readFailed(ctx context.Context, err error, retry *redisStreamRetry) bool {
	if ctx.Err() != nil || isRedisStreamClosing(err) {
		return false
	}
	s.logger.Error("Reading the redis stream failed; trying again", err, watermill.LogFields{"topic": s.stream, "retry_in": retry.next().String()})
	if !periodic.Sleep(ctx, retry.wait()) {
		return false
	}
	if strings.HasPrefix(err.Error(), "NOGROUP") {
		if err := createRedisStreamGroup(ctx, s.reads, s.stream, s.group); err != nil && ctx.Err() == nil {
			s.logger.Error("Creating the group again failed", err, watermill.LogFields{"topic": s.stream})
		}
	}
	return true
}

// claimIdle takes over the entries idle for ClaimIdle in any consumer of the
// group: those of a crashed process. Entries this subscription already holds
// (a slow handler's) are claimed too, which only resets their idle time, but
// not handed over twice.
func (s *redisStreamSubscription) claimIdle(ctx context.Context) {
	start := "0-0"
	for range redisStreamClaimCalls {
		entries, next, err := s.reads.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: s.stream, Group: s.group, Consumer: s.consumer,
			MinIdle: s.config.ClaimIdle, Start: start, Count: int64(s.config.Concurrency),
		}).Result()
		if err != nil {
			if ctx.Err() == nil && !isRedisStreamClosing(err) {
				s.logger.Error("Claiming idle entries failed", err, watermill.LogFields{"topic": s.stream})
			}
			return
		}
		for _, entry := range entries {
			if !s.enqueue(ctx, entry) {
				return
			}
		}
		if next == "0-0" || next == "" {
			return
		}
		start = next
	}
}

// removeIdleConsumers deletes from the group the consumers that hold no
// entry and have been idle long: those of processes gone for good.
func (s *redisStreamSubscription) removeIdleConsumers(ctx context.Context) {
	consumers, err := s.reads.XInfoConsumers(ctx, s.stream, s.group).Result()
	if err != nil {
		if ctx.Err() == nil && !isRedisStreamClosing(err) {
			s.logger.Error("Listing the group's consumers failed", err, watermill.LogFields{"topic": s.stream})
		}
		return
	}
	// A live consumer reads at least every BlockTime, which keeps it from
	// looking idle.
	timeout := max(redisStreamConsumerTimeout, 10*s.config.BlockTime)
	removed := 0
	for _, consumer := range consumers {
		if consumer.Name == s.consumer || consumer.Pending > 0 || consumer.Idle < timeout {
			continue
		}
		if removed == redisStreamConsumerRemovals {
			return
		}
		if err := s.reads.XGroupDelConsumer(ctx, s.stream, s.group, consumer.Name).Err(); err != nil {
			if ctx.Err() == nil {
				s.logger.Error("Removing an idle consumer failed", err, watermill.LogFields{"topic": s.stream, "idle_consumer": consumer.Name})
			}
			return
		}
		removed++
	}
}

// waitForRoom returns how many entries ready can take, once it can take one;
// 0 when the subscription is stopping.
func (s *redisStreamSubscription) waitForRoom(ctx context.Context) int {
	for {
		if room := cap(s.ready) - len(s.ready); room > 0 {
			return room
		}
		select {
		case <-s.taken:
		case <-ctx.Done():
			return 0
		}
	}
}

func (s *redisStreamSubscription) enqueueAll(ctx context.Context, streams []redis.XStream) bool {
	for _, stream := range streams {
		for _, entry := range stream.Messages {
			if !s.enqueue(ctx, entry) {
				return false
			}
		}
	}
	return true
}

// enqueue makes entry ready to hand over, unless this subscription already
// holds it. An entry trimmed from the stream while pending comes without
// fields: there is nothing to handle, and it is acknowledged at once.
func (s *redisStreamSubscription) enqueue(ctx context.Context, entry redis.XMessage) bool {
	if !s.held.add(entry.ID) {
		return true
	}
	if len(entry.Values) == 0 {
		select {
		case s.acked <- entry.ID:
			return true
		case <-ctx.Done():
			return false
		}
	}
	select {
	case s.ready <- entry:
		return true
	case <-ctx.Done():
		return false
	}
}

// dispatch hands the ready entries over while fewer than Concurrency
// messages are in flight. Entries still ready when the subscription stops
// stay pending.
func (s *redisStreamSubscription) dispatch(ctx context.Context) {
	for {
		select {
		case s.inFlight <- struct{}{}:
		case <-ctx.Done():
			return
		}
		var entry redis.XMessage
		select {
		case entry = <-s.ready:
		case <-ctx.Done():
			<-s.inFlight
			return
		}
		select {
		case s.taken <- struct{}{}:
		default:
		}
		s.delivering.Add(1)
		go func() {
			defer s.delivering.Done()
			defer func() { <-s.inFlight }()
			s.deliver(ctx, entry)
		}()
	}
}

// deliver hands entry's message to the handler until it is acked, again
// after NackResendSleep each time it is nacked; once the subscription
// stops, a nacked message is left pending instead.
func (s *redisStreamSubscription) deliver(ctx context.Context, entry redis.XMessage) {
	msg, _ := tolerantRedisStreamUnmarshaller{}.Unmarshal(entry.Values) // it never fails
	for {
		msg.SetContext(s.handling)
		if !s.handOver(ctx, msg) {
			s.held.remove(entry.ID)
			return
		}
		select {
		case <-msg.Acked():
			select {
			case s.acked <- entry.ID:
			case <-s.handling.Done():
				s.held.remove(entry.ID)
			}
			return
		case <-msg.Nacked():
			if !periodic.Sleep(ctx, s.config.NackResendSleep) {
				s.held.remove(entry.ID)
				return
			}
			msg = msg.Copy()
		case <-s.handling.Done():
			s.held.remove(entry.ID)
			return
		}
	}
}

// handOver sends msg to the handler unless the subscription stops first.
func (s *redisStreamSubscription) handOver(ctx context.Context, msg *message.Message) bool {
	s.outputMu.RLock()
	defer s.outputMu.RUnlock()
	if s.outputClosed {
		return false
	}
	select {
	case s.output <- msg:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *redisStreamSubscription) closeOutput() {
	s.outputMu.Lock()
	defer s.outputMu.Unlock()
	s.outputClosed = true
	close(s.output)
}

// acknowledge acknowledges the entries whose messages were acked, many per
// XACK: a batch goes when it holds Concurrency ids or ackDelay after its
// first, and the last when acked closes.
func (s *redisStreamSubscription) acknowledge(reading context.Context) {
	batchSize := s.config.Concurrency
	batch := make([]string, 0, batchSize)
	delay := time.NewTimer(time.Hour)
	delay.Stop()
	defer delay.Stop()
	for {
		select {
		case id, open := <-s.acked:
			if !open {
				s.flush(batch, redisStreamFinalAckAttempts)
				return
			}
			if len(batch) == 0 {
				delay.Reset(s.ackDelay)
			}
			batch = append(batch, id)
			if len(batch) < batchSize {
				continue
			}
		case <-delay.C:
		}
		delay.Stop()
		attempts := redisStreamAckAttempts
		if reading.Err() != nil {
			attempts = redisStreamFinalAckAttempts
		}
		s.flush(batch, attempts)
		batch = batch[:0]
	}
}

// flush acknowledges ids in one XACK, trying up to attempts times. The ids
// stay held until then, so that a claim round does not hand them over again
// in between.
func (s *redisStreamSubscription) flush(ids []string, attempts int) {
	if len(ids) == 0 {
		return
	}
	defer s.held.remove(ids...)
	retry := redisStreamRetry{first: redisStreamFirstRetry, last: redisStreamLastRetry}
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), redisStreamAckTimeout)
		err := s.acks.XAck(ctx, s.stream, s.group, ids...).Err()
		cancel()
		if err == nil {
			return
		}
		if attempt >= attempts || errors.Is(err, redis.ErrClosed) {
			s.logger.Error("Acknowledging entries failed; they will be delivered again", err, watermill.LogFields{"topic": s.stream, "entries": len(ids)})
			return
		}
		time.Sleep(retry.wait())
	}
}

// heldRedisStreamEntries are the entries a subscription has read or claimed
// and not yet acknowledged or let go: at most those ready, in flight and
// being acknowledged.
type heldRedisStreamEntries struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// add reports whether id was not held yet.
func (h *heldRedisStreamEntries) add(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, held := h.ids[id]; held {
		return false
	}
	h.ids[id] = struct{}{}
	return true
}

func (h *heldRedisStreamEntries) remove(ids ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		delete(h.ids, id)
	}
}

// redisStreamRetry is a pause that doubles from first to last.
type redisStreamRetry struct {
	first, last, current time.Duration
}

func (r *redisStreamRetry) next() time.Duration {
	if r.current == 0 {
		return r.first
	}
	return min(2*r.current, r.last)
}

func (r *redisStreamRetry) wait() time.Duration {
	r.current = r.next()
	return r.current
}

func (r *redisStreamRetry) reset() { r.current = 0 }
