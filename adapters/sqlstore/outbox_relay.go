package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/settings"
)

// OutboxRelayConfig tunes the relay that moves events from the outbox to the
// event bus. Its tags make it the OUTBOX_ settings; the fields without one
// are for tests, and zero takes their default.
type OutboxRelayConfig struct {
	// PollInterval is how often the relay looks for events written by other
	// processes; events of this process wake it at once.
	PollInterval time.Duration `name:"poll-interval" env:"POLL_INTERVAL" default:"500ms" help:"How often the outbox relay looks for events written by other processes."`
	// BatchSize is how many events one round relays at most.
	BatchSize int `kong:"-"`
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

// Check reports every setting out of range, naming its variable.
func (c OutboxRelayConfig) Check() error {
	var p settings.Problems
	p.Positive("OUTBOX_POLL_INTERVAL", c.PollInterval)
	return p.Err()
}

func (c *OutboxRelayConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
}

// OutboxRelay publishes the events of the outbox table on the real
// transport, oldest first, and deletes them once published. The commits of
// this process that wrote events (those the Outbox it is built on is told
// of) wake it at once; those of other processes are found at the next poll.
type OutboxRelay struct {
	db        *DB
	wakeups   <-chan struct{}
	publisher message.Publisher
	config    OutboxRelayConfig
	logger    *slog.Logger
}

// NewOutboxRelay relays the outbox of db on publisher, woken by the commits
// outbox is told of.
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
	return &OutboxRelay{db: db, wakeups: outbox.wakeups(), publisher: publisher, config: config, logger: logger}, nil
}

// Run relays until ctx is done. An event is deleted only after its publish
// succeeded, so a crash at any point leads to a second publish, never to
// none: event handlers must be idempotent. A failed round is retried after a
// backoff that doubles up to MaxBackoff.
func (r *OutboxRelay) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		relayed, err := r.relayBatch(ctx)
		wait := r.config.PollInterval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = min(max(2*backoff, 50*time.Millisecond), r.config.MaxBackoff)
			wait = backoff
			r.logger.WarnContext(ctx, "outbox relay failed, retrying", slog.Any("error", err), slog.Duration("retry_in", wait))
		case relayed == r.config.BatchSize:
			backoff = 0
			continue // more may be waiting
		default:
			backoff = 0
		}

		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-r.wakeups:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// relayedEvent is one row of the outbox, as it is published.
type relayedEvent struct {
	ID    int64
	Topic string
	Msg   *message.Message
}

// relayBatch relays a round: the oldest rows, published, then deleted. The
// deletes need no flush of their own (runUnflushedTx): lost to a crash of the
// machine, they leave events that are published again.
func (r *OutboxRelay) relayBatch(ctx context.Context) (int, error) {
	if r.db.sqlDialect().OneProcess {
		return r.relayBatchAlone(ctx)
	}
	var relayed int
	err := r.db.runUnflushedTx(ctx, func(tx *sql.Tx) error {
		// Where the dialect can, rows being relayed by another process are
		// skipped rather than waited for or relayed twice: the transaction
		// holds them until they are deleted.
		d := r.db.sqlDialect()
		// #nosec G202 -- only constant SQL and the dialect's constant clauses are joined; values go as arguments
		rows, err := r.db.query(ctx, tx, outboxBatchQuery+d.ForUpdate+d.SkipLocked, r.config.BatchSize)
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
		return r.deleteRelayed(lastStatement(ctx), tx, batch)
	})
	if err != nil {
		return 0, err
	}
	return relayed, nil
}

// relayBatchAlone is relayBatch where this relay is the only one: no
// transaction is held while the events are published, so the store's writes
// do not wait for the publish (on SQLite a transaction holds the one writer).
func (r *OutboxRelay) relayBatchAlone(ctx context.Context) (int, error) {
	stmt, err := r.db.readStatement(ctx, outboxBatchQuery)
	if err != nil {
		return 0, err
	}
	rows, err := stmt.QueryContext(ctx, r.config.BatchSize)
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
	err = r.db.runUnflushedTx(ctx, func(tx *sql.Tx) error { return r.deleteRelayed(ctx, tx, batch) })
	if err != nil {
		return 0, err
	}
	return len(batch), nil
}

// outboxBatchQuery reads the oldest rows of the outbox, at most the number
// given.
const outboxBatchQuery = "SELECT id, topic, uuid, payload, metadata FROM outbox ORDER BY id LIMIT ?"

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

// deleteRelayed deletes the rows of batch, once published.
func (r *OutboxRelay) deleteRelayed(ctx context.Context, tx *sql.Tx, batch []relayedEvent) error {
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
				errs[i] = fmt.Errorf("publishing outbox row %d to %s: %w", e.ID, e.Topic, err)
			}
		})
	}
	publishing.Wait()
	return errors.Join(errs...)
}
