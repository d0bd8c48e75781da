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
)

// EventBusFactory builds an event bus that publishes through publisher. The
// outbox uses it so that the events it keeps have exactly the topics, names
// and metadata the real event bus would give them.
type EventBusFactory func(publisher message.Publisher) (command.EventPublisher, error)

// Outbox writes the events of a change into the outbox table, in the
// transaction of the change: they exist if, and only if, it commits. Every
// flow writes its events through it, the same way:
//
//	batch, err := outbox.Begin()           // with the transaction
//	batch.Events().Publish(ctx, event)     // what the use case publishes
//	err = outbox.Write(ctx, tx, batch)     // all of them, in one statement
//	outbox.Committed(batch)                // after the commit: hands them to the relay
//
// A flow that writes several statements of its own (the tech flow's batch)
// hands them to Write, which sends them with the events in one round trip.
//
// One Outbox serves a process: the OutboxRelay built on it publishes the
// events of the commits it is told of at once, from memory, without reading
// them back.
type Outbox struct {
	db          *DB
	newEventBus EventBusFactory

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

// NewOutbox writes events into db through buses newEventBus builds.
func NewOutbox(db *DB, newEventBus EventBusFactory) (*Outbox, error) {
	switch {
	case db == nil:
		return nil, errors.New("nil db")
	case newEventBus == nil:
		return nil, errors.New("nil event bus factory")
	}
	return &Outbox{db: db, newEventBus: newEventBus, written: make(chan struct{}, 1)}, nil
}

// Begin starts the batch of events of one transaction.
func (o *Outbox) Begin() (*OutboxBatch, error) {
	return newOutboxBatch(o.newEventBus)
}

// Write runs the statements with (the flow's own writes, in order), then
// inserts the events of batch in tx, in order, in one statement; where the
// connections allow it, all of it in one round trip.
func (o *Outbox) Write(ctx context.Context, tx *sql.Tx, batch *OutboxBatch, with ...statement) error {
	if insert, ok := o.insert(batch); ok {
		with = append(with, insert)
	}
	if err := o.db.execAll(ctx, tx, with...); err != nil {
		return fmt.Errorf("writing the transaction's changes and events: %w", err)
	}
	return nil
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
// committed: its events go to the relay, which is woken.
func (o *Outbox) Committed(batch *OutboxBatch) {
	if batch == nil || batch.Len() == 0 {
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
