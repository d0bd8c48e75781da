package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/settings"
)

// OutboxRelayConfig tunes the relay that moves events from the outbox to the
// event bus. Its tags make it the OUTBOX_ settings; the fields without one
// are for tests, and zero takes their default.
type OutboxRelayConfig struct {
	// PollInterval is how often the relay looks for events left in the
	// table: by a process that stopped before it published them or runs no
	// relay, or by this one when it held more than it could keep in memory
	// or its publishes kept failing. The events of this process's commits
	// are otherwise published at once.
	PollInterval time.Duration `name:"poll-interval" env:"POLL_INTERVAL" default:"500ms" help:"How often the outbox relay looks for events left unpublished (by a process that stopped, say)."`
	// RescueAfter is how old an event must be before any relay reads it
	// back from the table and publishes it. Its own process publishes it at
	// once and deletes it within DeleteDelay, so a shorter time would
	// publish events twice. Age is told by the clocks of the processes, so
	// their skew must stay well below it.
	RescueAfter time.Duration `name:"rescue-after" env:"RESCUE_AFTER" default:"5s" help:"How long an event may wait in the outbox before any process's relay publishes it (at least 1s)."`
	// BatchSize is how many events one publish or rescue round carries at
	// most.
	BatchSize int `kong:"-"`
	// DeleteDelay is how long the rows of published events may wait to be
	// deleted, so that one statement deletes those of many publishes.
	DeleteDelay time.Duration `kong:"-"`
	// MaxBackoff bounds the wait after a failed round.
	MaxBackoff time.Duration `kong:"-"`
	// PublishEachAlone is for where a publish returns only once the
	// handlers have acked its messages, one after the other (GoChannel), and
	// the handlers wait on the network (a Redis cache): the relay then
	// publishes every event of a round on its own, all at once, so that
	// their handlers wait side by side instead of in turn, and a round
	// lasts one round trip instead of one per event. The events of one topic then
	// reach their handlers in no particular order, as they do on every
	// durable transport.
	PublishEachAlone bool `kong:"-"`
}

// minRescueAfter keeps OUTBOX_RESCUE_AFTER well above DeleteDelay and a
// publish's round trips.
const minRescueAfter = time.Second

// Check reports every setting out of range, naming its variable.
func (c OutboxRelayConfig) Check() error {
	var p settings.Problems
	p.Positive("OUTBOX_POLL_INTERVAL", c.PollInterval)
	if c.RescueAfter < minRescueAfter {
		p.Add("OUTBOX_RESCUE_AFTER", "must be at least %s, got %s", minRescueAfter, c.RescueAfter)
	}
	return p.Err()
}

func (c *OutboxRelayConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = 5 * time.Second
	}
	if c.DeleteDelay <= 0 {
		c.DeleteDelay = min(100*time.Millisecond, c.RescueAfter/10)
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
}

// OutboxRelay publishes the events of the outbox table on the real
// transport and deletes them once published, in two ways:
//
//   - The events of this process's commits (those the Outbox it is built on
//     is told of) are published at once, from memory, in the order of their
//     commits. Their rows are deleted afterwards, those of many publishes in
//     one statement: the publish costs the database nothing, where reading
//     the rows back under a lock took a transaction of its own.
//   - Every PollInterval it rescues the events older than RescueAfter, oldest
//     first: those of a process that stopped before it published them, or
//     whose relay could not. On MySQL a rescue locks its rows, so that the
//     relays of several processes never rescue one event together.
//
// An event is deleted only after its publish succeeded, so a crash at any
// point leads to a second publish, never to none: event handlers must be
// idempotent. So does a publish of this process's that takes longer than
// RescueAfter, which another relay may meanwhile rescue.
type OutboxRelay struct {
	db        *DB
	outbox    *Outbox
	publisher message.Publisher
	config    OutboxRelayConfig
	logger    *slog.Logger
}

// NewOutboxRelay relays the outbox of db on publisher, with the events of
// the commits outbox is told of first.
func NewOutboxRelay(db *DB, outbox *Outbox, publisher message.Publisher, config OutboxRelayConfig, logger *slog.Logger) (*OutboxRelay, error) {
	switch {
	case db == nil:
		return nil, errors.New("nil db")
	case outbox == nil:
		return nil, errors.New("nil outbox")
	case publisher == nil:
		return nil, errors.New("nil publisher")
	case logger == nil:
		return nil, errors.New("nil logger")
	}
	config.setDefaults()
	return &OutboxRelay{db: db, outbox: outbox, publisher: publisher, config: config, logger: logger}, nil
}

// Run relays until ctx is done. A failed publish or rescue is retried after
// a backoff that doubles up to MaxBackoff; the events of a failed publish
// are held, and given up to the rescue once they are half RescueAfter old.
func (r *OutboxRelay) Run(ctx context.Context) error {
	run := relayRun{OutboxRelay: r, rescueAt: time.Now()}
	defer run.deleteOnStop(ctx)
	// Each turn does what is due of the three, so that none of them waits
	// for another's backlog.
	for ctx.Err() == nil {
		more := false
		if !time.Now().Before(run.publishAt) {
			more = run.publishCommitted(ctx)
		}
		if run.deleteDue() {
			run.deletePublished(ctx)
		}
		if !time.Now().Before(run.rescueAt) {
			run.rescue(ctx)
		}
		if more {
			continue
		}

		wake := run.rescueAt
		if len(run.toDelete) > 0 {
			wake = earliest(wake, run.deleteAt)
		}
		wakeups := r.outbox.wakeups()
		if time.Now().Before(run.publishAt) {
			// Held back after a failed publish: new events wait too, so
			// that they are published after the held ones.
			wake, wakeups = earliest(wake, run.publishAt), nil
		}
		timer := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
		case <-wakeups:
		case <-timer.C:
		}
		timer.Stop()
	}
	return nil
}

// earliest is the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// relayRun is the state of one Run.
type relayRun struct {
	*OutboxRelay
	// held are the committed events of a failed publish, published again at
	// publishAt, before any other.
	held      []committedEvent
	publishAt time.Time
	// publishBackoff, rescueBackoff and deleteBackoff are the waits after
	// the last failure of each, zero after a success.
	publishBackoff, rescueBackoff, deleteBackoff time.Duration
	rescueAt                                     time.Time
	// toDelete are the uuids of the published events whose rows are still
	// in the table, deleted at deleteAt or once there are BatchSize of them.
	toDelete []any
	deleteAt time.Time
}

// publishCommitted publishes the next events of this process's commits, at
// most BatchSize; more is true when a full batch went out.
func (r *relayRun) publishCommitted(ctx context.Context) (more bool) {
	events := r.held
	r.held = nil
	events = append(events, r.outbox.takeCommitted(r.config.BatchSize-len(events))...)
	more = len(events) == r.config.BatchSize
	// An event this old may be rescued any moment by another process's
	// relay: it is left to the rescue.
	tooOld := time.Now().Add(-r.config.RescueAfter / 2)
	events = slices.DeleteFunc(events, func(e committedEvent) bool { return e.at.Before(tooOld) })
	if len(events) == 0 {
		return more
	}
	batch := make([]relayedEvent, len(events))
	for i, e := range events {
		msg := message.NewMessage(e.UUID, e.Payload)
		msg.Metadata = maps.Clone(e.metadata)
		batch[i] = relayedEvent{Topic: e.Topic, Msg: msg}
	}
	err := r.publish(batch)
	if ctx.Err() != nil {
		// A publish that closing the transport released may not have
		// reached anyone: its rows stay for the next start.
		return false
	}
	if err != nil {
		r.held = events
		r.publishBackoff = r.backoff(r.publishBackoff)
		r.publishAt = time.Now().Add(r.publishBackoff)
		r.logger.WarnContext(ctx, "outbox relay's publish failed, retrying", slog.Any("error", err), slog.Duration("retry_in", r.publishBackoff))
		return false
	}
	r.publishBackoff = 0
	if len(r.toDelete) == 0 {
		r.deleteAt = time.Now().Add(r.config.DeleteDelay)
	}
	for _, e := range events {
		r.toDelete = append(r.toDelete, e.UUID)
	}
	return more
}

// backoff is the wait after a failure that follows one of last. It stays
// under a quarter of RescueAfter, so that held events are tried again at
// least once before they are given up to the rescue.
func (r *relayRun) backoff(last time.Duration) time.Duration {
	return min(max(2*last, 50*time.Millisecond), r.config.MaxBackoff, r.config.RescueAfter/4)
}

// rescue relays a round of the events older than RescueAfter and sets when
// the next round runs: at once after a full one.
func (r *relayRun) rescue(ctx context.Context) {
	rescued, err := r.rescueBatch(ctx)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		r.rescueBackoff = r.backoff(r.rescueBackoff)
		r.rescueAt = time.Now().Add(r.rescueBackoff)
		r.logger.WarnContext(ctx, "outbox relay's rescue failed, retrying", slog.Any("error", err), slog.Duration("retry_in", r.rescueBackoff))
	case rescued == r.config.BatchSize:
		r.rescueBackoff = 0
		r.rescueAt = time.Now()
	default:
		r.rescueBackoff = 0
		r.rescueAt = time.Now().Add(r.config.PollInterval)
	}
}

// deleteDue tells whether the published events' rows are to be deleted
// now: DeleteDelay after the first publish, or once there are BatchSize of
// them, unless a failed delete waits for its backoff.
func (r *relayRun) deleteDue() bool {
	switch {
	case len(r.toDelete) == 0:
		return false
	case !time.Now().Before(r.deleteAt):
		return true
	default:
		return len(r.toDelete) >= r.config.BatchSize && r.deleteBackoff == 0
	}
}

// deleteChunk is the most rows one statement deletes. The lists of uuids
// are padded to a power of two, so that a few statement texts serve every
// size (SQLite keeps its statements prepared, at most 512 of them).
const deleteChunk = 256

// deletePublished deletes the rows of the events published, in one
// transaction that needs no flush of its own (runUnflushedTx): lost to a
// crash of the machine, the deletes leave events that are published again.
// Failed, it is retried after a backoff; the uuids it keeps are bounded,
// the oldest given up to the rescue beyond maxCommittedEvents.
func (r *relayRun) deletePublished(ctx context.Context) {
	err := r.db.runUnflushedTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(r.toDelete); start += deleteChunk {
			end := min(start+deleteChunk, len(r.toDelete))
			uuids := padToPowerOfTwo(r.toDelete[start:end])
			execCtx := ctx
			if end == len(r.toDelete) {
				execCtx = lastStatement(ctx) // the last statement commits
			}
			// #nosec G202 -- only constant SQL and placeholders are joined; values go as arguments
			if _, err := r.db.exec(execCtx, tx, "DELETE FROM outbox WHERE uuid IN "+placeholderList(len(uuids)), uuids...); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		r.toDelete, r.deleteBackoff = r.toDelete[:0], 0
		return
	}
	if ctx.Err() == nil {
		r.logger.WarnContext(ctx, "outbox relay could not delete published events, retrying", slog.Any("error", err), slog.Int("events", len(r.toDelete)))
	}
	if over := len(r.toDelete) - maxCommittedEvents; over > 0 {
		r.toDelete = slices.Delete(r.toDelete, 0, over)
	}
	r.deleteBackoff = r.backoff(r.deleteBackoff)
	r.deleteAt = time.Now().Add(r.deleteBackoff)
}

// padToPowerOfTwo is values, its last repeated up to a power of two of
// them, in a slice of its own.
func padToPowerOfTwo(values []any) []any {
	n := 1
	for n < len(values) {
		n *= 2
	}
	return append(slices.Clip(values), slices.Repeat(values[len(values)-1:], n-len(values))...)
}

// deleteOnStop deletes the rows of the events published before ctx ended,
// within a second, so that the next start does not publish them again.
func (r *relayRun) deleteOnStop(ctx context.Context) {
	if len(r.toDelete) == 0 {
		return
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	r.deletePublished(stopCtx)
}

// relayedEvent is one event as it is published; ID is its row's, for a
// rescued event.
type relayedEvent struct {
	ID    int64
	Topic string
	Msg   *message.Message
}

// rescueBatch relays a round of the oldest rows older than RescueAfter:
// published, then deleted.
func (r *OutboxRelay) rescueBatch(ctx context.Context) (int, error) {
	olderThan := time.Now().UTC().Add(-r.config.RescueAfter)
	if r.db.sqlDialect().OneProcess {
		return r.rescueBatchAlone(ctx, olderThan)
	}
	var relayed int
	err := r.db.runUnflushedTx(ctx, func(tx *sql.Tx) error {
		// Where the dialect can, rows being relayed by another process are
		// skipped rather than waited for or relayed twice: the transaction
		// holds them until they are deleted.
		d := r.db.sqlDialect()
		// #nosec G202 -- only constant SQL and the dialect's constant clauses are joined; values go as arguments
		rows, err := r.db.query(ctx, tx, outboxBatchQuery+d.ForUpdate+d.SkipLocked, olderThan, r.config.BatchSize)
		if err != nil {
			return err
		}
		batch, err := r.scanBatch(rows)
		if err != nil || len(batch) == 0 {
			return err
		}
		if err := r.publish(batch); err != nil {
			return err
		}
		relayed = len(batch)
		return r.deleteRescued(lastStatement(ctx), tx, batch)
	})
	if err != nil {
		return 0, err
	}
	return relayed, nil
}

// rescueBatchAlone is rescueBatch where this relay is the only one: no
// transaction is held while the events are published, so the store's writes
// do not wait for the publish (on SQLite a transaction holds the one writer).
func (r *OutboxRelay) rescueBatchAlone(ctx context.Context, olderThan time.Time) (int, error) {
	stmt, err := r.db.readStatement(ctx, outboxBatchQuery)
	if err != nil {
		return 0, err
	}
	rows, err := stmt.QueryContext(ctx, olderThan, r.config.BatchSize)
	if err != nil {
		return 0, err
	}
	batch, err := r.scanBatch(rows)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	if err := r.publish(batch); err != nil {
		return 0, err
	}
	err = r.db.runUnflushedTx(ctx, func(tx *sql.Tx) error { return r.deleteRescued(ctx, tx, batch) })
	if err != nil {
		return 0, err
	}
	return len(batch), nil
}

// outboxBatchQuery reads the oldest rows of the outbox written before the
// time given, at most the number given.
const outboxBatchQuery = "SELECT id, topic, uuid, payload, metadata FROM outbox WHERE created_at < ? ORDER BY id LIMIT ?"

// scanBatch reads the events of rows and closes it.
func (r *OutboxRelay) scanBatch(rows *sql.Rows) ([]relayedEvent, error) {
	defer rows.Close()
	var batch []relayedEvent
	for rows.Next() {
		var (
			e        relayedEvent
			uuid     string
			payload  []byte
			metadata string
		)
		if err := rows.Scan(&e.ID, &e.Topic, &uuid, &payload, &metadata); err != nil {
			return nil, err
		}
		e.Msg = message.NewMessage(uuid, payload)
		if err := json.Unmarshal([]byte(metadata), &e.Msg.Metadata); err != nil {
			return nil, fmt.Errorf("outbox row %d: bad metadata: %w", e.ID, err)
		}
		batch = append(batch, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return batch, rows.Close()
}

// deleteRescued deletes the rows of batch, once published.
func (r *OutboxRelay) deleteRescued(ctx context.Context, tx *sql.Tx, batch []relayedEvent) error {
	ids := make([]any, len(batch))
	for i, e := range batch {
		ids[i] = e.ID
	}
	// #nosec G202 -- only constant SQL and placeholders are joined; values go as arguments
	_, err := r.db.exec(ctx, tx, "DELETE FROM outbox WHERE id IN "+placeholderList(len(ids)), ids...)
	return err
}

// publish makes one publish per topic, in the order of the outbox: a
// transport that can send several messages at once does so, and order only
// matters, and is kept, within a topic.
func (r *OutboxRelay) publish(batch []relayedEvent) error {
	if r.config.PublishEachAlone {
		return r.publishEachAlone(batch)
	}
	var (
		topics  []string
		byTopic = map[string][]*message.Message{}
	)
	for _, e := range batch {
		if _, seen := byTopic[e.Topic]; !seen {
			topics = append(topics, e.Topic)
		}
		byTopic[e.Topic] = append(byTopic[e.Topic], e.Msg)
	}
	for _, topic := range topics {
		if err := r.publisher.Publish(topic, byTopic[topic]...); err != nil {
			return fmt.Errorf("publishing %d outbox rows to %s: %w", len(byTopic[topic]), topic, err)
		}
	}
	return nil
}

// publishEachAlone publishes every event of batch in a publish of its own,
// all at once (at most BatchSize), and waits for all of them.
func (r *OutboxRelay) publishEachAlone(batch []relayedEvent) error {
	errs := make([]error, len(batch))
	var publishing sync.WaitGroup
	for i, e := range batch {
		publishing.Go(func() {
			if err := r.publisher.Publish(e.Topic, e.Msg); err != nil {
				errs[i] = fmt.Errorf("publishing event %s to %s: %w", e.Msg.UUID, e.Topic, err)
			}
		})
	}
	publishing.Wait()
	return errors.Join(errs...)
}
