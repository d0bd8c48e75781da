package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/mysqldb"
)

// EventBusFactory builds an event bus that publishes through publisher. The
// outbox uses it so that the events it keeps have exactly the topics, names
// and metadata the real event bus would give them.
type EventBusFactory func(publisher message.Publisher) (command.EventPublisher, error)

// Outbox writes the events of a change into the outbox table (or straight
// into the transport, WithPublishInTransaction), in the transaction of the
// change: they exist if, and only if, it commits. Every flow writes its
// events through it, the same way:
//
//	batch, err := outbox.Begin()           // with the transaction
//	batch.Events().Publish(ctx, event)     // what the use case publishes
//	err = outbox.Write(ctx, tx, batch)     // all of them, the transaction's last statements
//	outbox.Committed(batch)                // after the commit: hands them to the relay, or wakes the transport
//
// A flow that writes several statements of its own (the tech flow's batch)
// hands them to Write, which sends them with the events in one round trip.
//
// One Outbox serves a process: the OutboxRelay built on it publishes the
// events of the commits it is told of at once, from memory, without reading
// them back.
//
// Where the transport keeps its messages in the store's own database
// (WithPublishInTransaction), the events go straight into the transport's
// tables instead, in the same transaction, and the relay has nothing to do.
type Outbox struct {
	db          *DB
	newEventBus EventBusFactory
	// publishInTx, when set, writes events into the transport itself.
	publishInTx PublishInTransaction

	mu sync.Mutex
	// committed holds the events of this process's commits until its relay
	// takes them, at most maxCommittedEvents: past that, or in a process
	// that runs no relay, an event waits in the table for a relay's rescue.
	committed []committedEvent
	// written wakes the relay of this process after a commit that wrote
	// events.
	written chan struct{}
}

// maxCommittedEvents bounds the events an Outbox holds for its relay.
const maxCommittedEvents = 4096

// committedEvent is an event whose transaction committed, and when.
type committedEvent struct {
	outboxEntry
	at time.Time
}

// PublishInTransaction returns the statements that publish the messages of
// every topic of publishes when they run, in order, in a transaction of the
// store's database, and published, to call once that transaction has
// committed. A transport that keeps its messages in that database offers it.
// The statements lock what they lock in one order whatever the order of the
// topics, so that transactions that publish to the same topics never wait
// for each other in a cycle; the transaction runs them last and commits.
type PublishInTransaction func(ctx context.Context, publishes []TopicMessages) (statements []Statement, published func(), err error)

// TopicMessages are messages to publish to one topic, in order.
type TopicMessages struct {
	Topic    string
	Messages []*message.Message
}

// Statement is one SQL statement and its arguments.
type Statement struct {
	Query string
	Args  []any
}

// OutboxOption configures an Outbox.
type OutboxOption func(*Outbox)

// WithPublishInTransaction has the outbox write events with publish, into the
// transport, instead of into its table: for a transport whose messages live
// in the store's database, the events of a transaction are then published
// if, and only if, it commits, and no relay is needed. Only a MySQL store on
// the transport's database can run publish's statements.
func WithPublishInTransaction(publish PublishInTransaction) OutboxOption {
	return func(o *Outbox) { o.publishInTx = publish }
}

// NewOutbox writes events into db through buses newEventBus builds.
func NewOutbox(db *DB, newEventBus EventBusFactory, options ...OutboxOption) (*Outbox, error) {
	switch {
	case db == nil:
		return nil, errors.New("nil db")
	case newEventBus == nil:
		return nil, errors.New("nil event bus factory")
	}
	o := &Outbox{db: db, newEventBus: newEventBus, written: make(chan struct{}, 1)}
	for _, option := range options {
		option(o)
	}
	return o, nil
}

// Begin starts the batch of events of one transaction.
func (o *Outbox) Begin() (*OutboxBatch, error) {
	return newOutboxBatch(o.newEventBus)
}

// Write runs the statements with (the flow's own writes, in order), then
// inserts the events of batch in tx, in order: into the outbox table in one
// statement, or into the transport (WithPublishInTransaction); where the
// connections allow it, all of it in one round trip. The events' statements
// come last, so that the transport's locks are held the shortest.
func (o *Outbox) Write(ctx context.Context, tx *sql.Tx, batch *OutboxBatch, with ...statement) error {
	events, err := o.eventStatements(ctx, batch)
	if err != nil {
		return err
	}
	if err := o.db.execAll(ctx, tx, append(with, events...)...); err != nil {
		return fmt.Errorf("writing the transaction's changes and events: %w", err)
	}
	return nil
}

// eventStatements are the statements that write the events of batch, and
// batch keeps what to call once they are committed. A transaction that runs
// again writes its batch again: what an earlier attempt kept is dropped.
func (o *Outbox) eventStatements(ctx context.Context, batch *OutboxBatch) ([]statement, error) {
	batch.published = nil
	if o.publishInTx == nil {
		if insert, ok := o.insert(batch); ok {
			return []statement{insert}, nil
		}
		return nil, nil
	}
	var topics messagesByTopic
	for _, e := range batch.kept {
		msg := message.NewMessage(e.UUID, e.Payload)
		msg.Metadata = maps.Clone(e.metadata)
		topics.add(e.Topic, msg)
	}
	if len(topics.publishes) == 0 {
		return nil, nil
	}
	statements, published, err := publishStatements(ctx, o.publishInTx, topics.publishes)
	batch.published = published
	return statements, err
}

// publishStatements are the statements of publish for publishes, and what
// to call after the commit. The context the statements will run with may
// commit the transaction (lastStatement); publish, which may run statements
// of its own elsewhere, gets one that does not.
func publishStatements(ctx context.Context, publish PublishInTransaction, publishes []TopicMessages) ([]statement, func(), error) {
	statements, published, err := publish(mysqldb.WithoutCommit(ctx), publishes)
	if err != nil {
		return nil, nil, fmt.Errorf("publishing in the transaction: %w", err)
	}
	converted := make([]statement, len(statements))
	for i, st := range statements {
		converted[i] = statement(st)
	}
	return converted, published, nil
}

// messagesByTopic gathers messages by topic: the topics in the order each
// first comes, each topic's messages in order.
type messagesByTopic struct {
	publishes []TopicMessages
	index     map[string]int
}

func (b *messagesByTopic) add(topic string, msg *message.Message) {
	i, ok := b.index[topic]
	if !ok {
		if b.index == nil {
			b.index = map[string]int{}
		}
		i = len(b.publishes)
		b.index[topic] = i
		b.publishes = append(b.publishes, TopicMessages{Topic: topic})
	}
	b.publishes[i].Messages = append(b.publishes[i].Messages, msg)
}

// insert is the statement inserting the events of batch, in order; ok is
// false when there are none.
func (o *Outbox) insert(batch *OutboxBatch) (insert statement, ok bool) {
	entries := batch.entries()
	if len(entries) == 0 {
		return statement{}, false
	}
	now := time.Now().UTC()
	args := make([]any, 0, 5*len(entries))
	for _, e := range entries {
		args = append(args, e.Topic, e.UUID, e.Payload, e.Metadata, now)
	}
	return statement{"INSERT INTO outbox (topic, uuid, payload, metadata, created_at) VALUES " + placeholderRows(len(entries), 5), args}, true
}

// Committed tells the outbox that the transaction that wrote batch has
// committed: its events go to the relay, which is woken, or, published in the
// transaction, the transport is told.
func (o *Outbox) Committed(batch *OutboxBatch) {
	if batch == nil || batch.Len() == 0 {
		return
	}
	if o.publishInTx != nil {
		if batch.published != nil {
			batch.published()
		}
		return
	}
	now := time.Now()
	o.mu.Lock()
	if len(o.committed)+batch.Len() <= maxCommittedEvents {
		for _, e := range batch.entries() {
			o.committed = append(o.committed, committedEvent{outboxEntry: e, at: now})
		}
	}
	o.mu.Unlock()
	select {
	case o.written <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// takeCommitted hands over the oldest events of the commits told of, at
// most n.
func (o *Outbox) takeCommitted(n int) []committedEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n >= len(o.committed) {
		taken := o.committed
		o.committed = nil
		return taken
	}
	taken := slices.Clone(o.committed[:n])
	o.committed = slices.Delete(o.committed, 0, n)
	return taken
}

// wakeups delivers a value after commits that wrote events.
func (o *Outbox) wakeups() <-chan struct{} { return o.written }

// OutboxBatch is the events one transaction publishes, kept until the
// Outbox writes them. It is the watermill publisher under the event bus it
// hands out, and is used by one goroutine at a time.
type OutboxBatch struct {
	events command.EventPublisher
	kept   []outboxEntry
	// published is what to call once the transaction that wrote the
	// events into the transport has committed (WithPublishInTransaction).
	published func()
}

// outboxEntry is one event as the outbox table keeps it, with its metadata
// also as the message had it.
type outboxEntry struct {
	Topic    string
	UUID     string
	Payload  []byte
	Metadata string
	metadata message.Metadata
}

// newOutboxBatch is an empty batch whose event bus newEventBus builds.
func newOutboxBatch(newEventBus EventBusFactory) (*OutboxBatch, error) {
	b := &OutboxBatch{}
	events, err := newEventBus(b)
	if err != nil {
		return nil, err
	}
	b.events = events
	return b, nil
}

// Events is the event bus whose events the batch keeps.
func (b *OutboxBatch) Events() command.EventPublisher { return b.events }

// Publish keeps messages for the outbox; it is what the event bus calls.
func (b *OutboxBatch) Publish(topic string, messages ...*message.Message) error {
	for _, msg := range messages {
		metadata, err := json.Marshal(msg.Metadata)
		if err != nil {
			return err
		}
		b.kept = append(b.kept, outboxEntry{Topic: topic, UUID: msg.UUID, Payload: msg.Payload, Metadata: string(metadata), metadata: maps.Clone(msg.Metadata)})
	}
	return nil
}

// Close does nothing: a batch holds no resource.
func (b *OutboxBatch) Close() error { return nil }

// Len is how many events the batch keeps.
func (b *OutboxBatch) Len() int { return len(b.kept) }

// Truncate forgets the events kept after the first n: those of a change
// that failed alone within a shared transaction.
func (b *OutboxBatch) Truncate(n int) { b.kept = b.kept[:n] }

func (b *OutboxBatch) entries() []outboxEntry { return b.kept }
