package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Subscriber reads as consumerGroup; subscribing creates the topic's tables if
// they do not exist yet.
func (t *SQL) Subscriber(consumerGroup string) (message.Subscriber, error) {
	if consumerGroup == "" {
		return nil, errors.New("sql subscriber: empty consumer group")
	}
	return &sqlSubscriber{transport: t, group: consumerGroup, closing: make(chan struct{})}, nil
}

// sqlSubscriber subscribes to every partition of a topic, each with a library
// subscriber of its own, and merges them.
//
// A partition polls every PollInterval while any partition of the topic has
// had a message lately, and the longer they have all been empty the less
// often, down to once a second: every partition of every handler polls, and an
// idle service would otherwise keep the database busy answering that nothing
// is new. A publish of this process wakes the partition it wrote to at once,
// so that in one process a message waits for no poll.
type sqlSubscriber struct {
	transport *SQL
	group     string
	closing   chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex
	subscribers []*watermillsql.Subscriber
}

func (s *sqlSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	t := s.transport
	if err := t.checkTopic(topic); err != nil {
		return nil, err
	}
	lastMessage := new(atomic.Int64)
	lastMessage.Store(time.Now().UnixNano())
	var inputs []<-chan *message.Message
	for _, partition := range t.partitionTopics(topic) {
		if err := t.initializeTopic(ctx, partition); err != nil {
			return nil, err
		}
		subscriber, err := t.partitionSubscriber(s.group, partition, s.closing, lastMessage)
		if err != nil {
			return nil, fmt.Errorf("sql subscriber for group %s: %w", s.group, err)
		}
		s.mu.Lock()
		s.subscribers = append(s.subscribers, subscriber)
		s.mu.Unlock()
		input, err := subscriber.Subscribe(ctx, partition)
		if err != nil {
			// Those already subscribed stop with Close.
			return nil, err
		}
		inputs = append(inputs, input)
	}
	return mergeSubscriptions(inputs, s.closing), nil
}

func (s *sqlSubscriber) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, subscriber := range s.subscribers {
		if err := subscriber.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sqlPolls paces the polls of one partition. The library sleeps for what
// HandleError returns; an empty poll waits in HandleError instead, for the
// pause or a publish to the partition, whichever comes first, and returns
// no sleep.
type sqlPolls struct {
	watermillsql.BackoffManager // for errors
	wakeup                      *sqlWakeup
	closing                     <-chan struct{}
	pollInterval                time.Duration
	// lastMessage is shared by the partitions of a topic: unix nanoseconds.
	lastMessage *atomic.Int64
	// published is the wake-up count when the last query began: a publish
	// after it may have been missed by the query, and is not waited for.
	published atomic.Uint64
}

// An idle topic's partitions slow their polls down to every sqlMaxIdlePolls
// poll intervals, or every sqlMaxIdlePoll if that is longer: the most a
// message published by another process after a long quiet waits.
const (
	sqlMaxIdlePolls = 10
	sqlMaxIdlePoll  = time.Second
)

func (p *sqlPolls) beforeQuery() {
	p.published.Store(p.wakeup.count())
}

func (p *sqlPolls) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil {
		return p.BackoffManager.HandleError(logger, noMsg, err)
	}
	now := time.Now()
	if !noMsg {
		p.lastMessage.Store(now.UnixNano())
		return 0
	}
	// Idle for ten seconds, polled every second.
	idle := now.Sub(time.Unix(0, p.lastMessage.Load()))
	pause := min(max(idle/sqlMaxIdlePolls, p.pollInterval), max(sqlMaxIdlePolls*p.pollInterval, sqlMaxIdlePoll))

	published, missed := p.wakeup.after(p.published.Load())
	if missed {
		return 0
	}
	timer := time.NewTimer(pause)
	defer timer.Stop()
	select {
	case <-published:
	case <-timer.C:
	case <-p.closing:
	}
	return 0
}

// sqlPollingSchema tells a partition's polls when a query begins.
type sqlPollingSchema struct {
	sqlTransportSchema
	polls *sqlPolls
}

func (s sqlPollingSchema) SelectQuery(topic string, consumerGroup string, offsets watermillsql.OffsetsAdapter) watermillsql.Query {
	s.polls.beforeQuery()
	return s.sqlTransportSchema.SelectQuery(topic, consumerGroup, offsets)
}

// sqlWakeups are the wake-ups of the partitions this process publishes to
// or reads.
type sqlWakeups struct {
	byTopic sync.Map // partition topic → *sqlWakeup
}

func (w *sqlWakeups) of(topic string) *sqlWakeup {
	if wakeup, ok := w.byTopic.Load(topic); ok {
		return wakeup.(*sqlWakeup)
	}
	wakeup, _ := w.byTopic.LoadOrStore(topic, &sqlWakeup{published: make(chan struct{})})
	return wakeup.(*sqlWakeup)
}

// sqlWakeup counts the publishes to one partition and tells every waiter of
// each.
type sqlWakeup struct {
	mu        sync.Mutex
	n         uint64
	published chan struct{} // closed at the next publish
}

func (w *sqlWakeup) signal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	close(w.published)
	w.published = make(chan struct{})
}

func (w *sqlWakeup) count() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// after returns a channel closed at the next publish, or missed if there
// was a publish since the count seen.
func (w *sqlWakeup) after(seen uint64) (published <-chan struct{}, missed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n != seen {
		return nil, true
	}
	return w.published, false
}

// partitionSubscriber is the library's subscriber of group to one partition,
// polling as sqlPolls says; lastMessage is shared by the partitions of a topic.
func (t *SQL) partitionSubscriber(group, partition string, closing <-chan struct{}, lastMessage *atomic.Int64) (*watermillsql.Subscriber, error) {
	polls := &sqlPolls{
		BackoffManager: watermillsql.NewDefaultBackoffManager(t.config.PollInterval, t.config.NackResendSleep),
		wakeup:         t.wakeups.of(partition),
		closing:        closing,
		pollInterval:   t.config.PollInterval,
		lastMessage:    lastMessage,
	}
	ackDeadline := t.config.AckDeadline
	return watermillsql.NewSubscriber(t.subscribeDB, watermillsql.SubscriberConfig{
		ConsumerGroup:  group,
		AckDeadline:    &ackDeadline,
		PollInterval:   t.config.PollInterval,
		ResendInterval: t.config.NackResendSleep,
		BackoffManager: polls,
		SchemaAdapter:  sqlPollingSchema{sqlTransportSchema: t.schema, polls: polls},
		OffsetsAdapter: t.offsets,
	}, t.logger)
}
