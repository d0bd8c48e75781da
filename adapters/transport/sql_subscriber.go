package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
// A partition is read again at once while it has messages. Once a poll finds
// it empty, it waits to be woken: by a publish of this process to the
// partition, or by the transport's watcher, which finds what other processes
// publish (see sqlWatcher); and polls anyway every sqlSafetyPoll.
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
	type handover struct {
		input <-chan *message.Message
		polls *sqlPolls
	}
	partitions, err := t.readPartitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	var handovers []handover
	for _, partition := range partitions {
		if err := t.initializeTopic(ctx, partition); err != nil {
			return nil, err
		}
		subscriber, polls, err := t.partitionSubscriber(ctx, s.group, partition, s.closing)
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
		handovers = append(handovers, handover{input, polls})
		t.watcher.watch(partition)
	}
	output := make(chan *message.Message)
	var sending sync.WaitGroup
	for _, h := range handovers {
		sending.Add(1)
		go (&sqlHandover{
			polls: h.polls, output: output, ctx: ctx, closing: s.closing,
			resend: t.config.NackResendSleep, sending: &sending,
		}).run(h.input)
	}
	go func() {
		sending.Wait()
		close(output)
	}()
	return output, nil
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
// HandleError returns. A poll that found the partition with nothing new
// waits in HandleError instead, for a wake-up of the partition or about
// sqlSafetyPoll, whichever comes first, and returns no sleep; one that read
// and handled everything up to the high-water mark waits likewise, but
// sqlDrainedRecheck at most; one that read nothing although the partition
// has messages sleeps pollInterval; one that may have left messages polls
// again at once.
type sqlPolls struct {
	watermillsql.BackoffManager // for errors
	wakeup                      *sqlWakeup
	closing                     <-chan struct{}
	subscribed                  <-chan struct{} // done when the Subscribe context is
	pollInterval                time.Duration
	batchSize                   int
	// nothingNew is set by each query: the group had nothing past its
	// offset when the query began.
	nothingNew atomic.Bool
	// batch is the rows of the last query (see sqlHandover).
	batch atomic.Pointer[sqlBatch]
	// polls counts the queries of every partition of the transport.
	polls *atomic.Uint64
	// published is the wake-up count when the last query began: a wake-up
	// after it may have been missed by the query, and is not waited for.
	published atomic.Uint64
}

func (p *sqlPolls) beforeQuery() {
	p.polls.Add(1)
	p.published.Store(p.wakeup.count())
	p.batch.Store(newSQLBatch())
}

func (p *sqlPolls) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	// The batch is done with: the library asked for its offset already.
	batch := p.batch.Swap(nil)
	if err != nil {
		return p.BackoffManager.HandleError(logger, noMsg, err)
	}
	wait := sqlSafetyPoll/2 + rand.N(sqlSafetyPoll) // #nosec G404 -- a spread of polls, not a secret
	switch {
	case !noMsg:
		if batch == nil || !batch.drained(p.batchSize) {
			return 0
		}
		// Whatever was published after the high-water mark was taken woke
		// the partition after this query began. But the library does not
		// say whether its transaction committed: a failed commit left the
		// batch to read again, so the partition looks again soon.
		wait = sqlDrainedRecheck
	case !p.nothingNew.Load():
		return p.pollInterval
	}
	published, missed := p.wakeup.after(p.published.Load())
	if missed {
		return 0
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-published:
	case <-timer.C:
	case <-p.closing:
	case <-p.subscribed:
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
	query, nothingNew := s.selectQuery(topic, consumerGroup, offsets)
	s.polls.nothingNew.Store(nothingNew)
	return query
}

// UnmarshalMessage records each row the query read in the poll's batch.
func (s sqlPollingSchema) UnmarshalMessage(rows watermillsql.Scanner) (watermillsql.Row, error) {
	row, err := s.sqlTransportSchema.UnmarshalMessage(rows)
	if err == nil {
		if batch := s.polls.batch.Load(); batch != nil {
			batch.read(row.Offset)
		}
	}
	return row, err
}

// sqlWakeups are the wake-ups of the partitions this process publishes to
// or reads: by its publishes and by its watcher.
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

// sqlWakeup counts the wake-ups of one partition and tells every waiter of
// each.
type sqlWakeup struct {
	mu        sync.Mutex
	n         uint64
	published chan struct{} // closed at the next wake-up
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

// after returns a channel closed at the next wake-up, or missed if there
// was one since the count seen.
func (w *sqlWakeup) after(seen uint64) (published <-chan struct{}, missed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n != seen {
		return nil, true
	}
	return w.published, false
}

// partitionSubscriber is the library's subscriber of group to one partition,
// polling as the returned sqlPolls says until ctx is done or closing closed.
func (t *SQL) partitionSubscriber(ctx context.Context, group, partition string, closing <-chan struct{}) (*watermillsql.Subscriber, *sqlPolls, error) {
	polls := &sqlPolls{
		BackoffManager: watermillsql.NewDefaultBackoffManager(t.config.PollInterval, t.config.NackResendSleep),
		wakeup:         t.wakeups.of(partition),
		closing:        closing,
		subscribed:     ctx.Done(),
		pollInterval:   t.config.PollInterval,
		batchSize:      t.config.BatchSize,
		polls:          &t.polls,
	}
	ackDeadline := t.config.AckDeadline
	subscriber, err := watermillsql.NewSubscriber(t.subscribeDB, watermillsql.SubscriberConfig{
		ConsumerGroup:  group,
		AckDeadline:    &ackDeadline,
		PollInterval:   t.config.PollInterval,
		ResendInterval: t.config.NackResendSleep,
		BackoffManager: polls,
		SchemaAdapter:  sqlPollingSchema{sqlTransportSchema: t.schema, polls: polls},
		OffsetsAdapter: sqlPollingOffsets{sqlTransportOffsets: t.offsets, polls: polls},
	}, t.logger)
	return subscriber, polls, err
}
