package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// outboxPublisher is a watermill publisher that keeps the messages published
// on it for the outbox of a transaction: write puts them in the outbox table as
// part of that transaction, so that they exist if, and only if, it commits.
type outboxPublisher struct {
	rows []outboxEntry
}

type outboxEntry struct {
	topic    string
	uuid     string
	payload  []byte
	metadata string
}

func (p *outboxPublisher) Publish(topic string, messages ...*message.Message) error {
	for _, msg := range messages {
		metadata, err := json.Marshal(msg.Metadata)
		if err != nil {
			return err
		}
		p.rows = append(p.rows, outboxEntry{topic: topic, uuid: msg.UUID, payload: msg.Payload, metadata: string(metadata)})
	}
	return nil
}

func (p *outboxPublisher) Close() error { return nil }

// writeOutbox inserts entries into the outbox in tx, in order, in one statement.
func writeOutbox(ctx context.Context, tx *sql.Tx, entries []outboxEntry) error {
	if len(entries) == 0 {
		return nil
	}
	insert := outboxInsert(entries)
	if _, err := tx.ExecContext(ctx, insert.query, insert.args...); err != nil {
		return fmt.Errorf("writing events to the outbox: %w", err)
	}
	return nil
}

// outboxInsert is the statement inserting entries, in order; there must be at
// least one.
func outboxInsert(entries []outboxEntry) statement {
	now := time.Now().UTC()
	args := make([]any, 0, 5*len(entries))
	for _, e := range entries {
		args = append(args, e.topic, e.uuid, e.payload, e.metadata, now)
	}
	return statement{"INSERT INTO outbox (topic, uuid, payload, metadata, created_at) VALUES " + placeholderRows(len(entries), 5), args}
}

// OutboxRelayConfig tunes the relay that moves events from the outbox to the
// event bus.
type OutboxRelayConfig struct {
	// BatchSize is how many events one round relays at most.
	BatchSize int
	// PollInterval is how often the relay looks for events written by other
	// processes; events of this process wake it at once.
	PollInterval time.Duration
	// MaxBackoff bounds the wait after a failed round.
	MaxBackoff time.Duration
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

// RelayOutbox publishes the events of the outbox on publisher, oldest first,
// deleting each batch once published, until ctx is done. An event is deleted only
// after its publish succeeded, so a crash at any point leads to a second publish,
// never to none: event handlers must be idempotent.
func (s *Store) RelayOutbox(ctx context.Context, publisher message.Publisher, config OutboxRelayConfig, logger *slog.Logger) error {
	config.setDefaults()
	backoff := time.Duration(0)
	for {
		relayed, err := s.relayOutboxBatch(ctx, publisher, config.BatchSize)
		wait := config.PollInterval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = min(max(2*backoff, 50*time.Millisecond), config.MaxBackoff)
			wait = backoff
			logger.WarnContext(ctx, "outbox relay failed, retrying", slog.Any("error", err), slog.Duration("retry_in", wait))
		case relayed == config.BatchSize:
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
		case <-s.outboxWritten:
			timer.Stop()
		case <-timer.C:
		}
	}
}

type outboxRow struct {
	id  int64
	msg *message.Message
	to  string
}

func (s *Store) relayOutboxBatch(ctx context.Context, publisher message.Publisher, batchSize int) (int, error) {
	tx, err := s.writeDB.BeginTx(ctx, &sql.TxOptions{Isolation: s.dialect.isolation})
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()

	// Where the dialect can, rows being relayed by another process are skipped
	// rather than waited for or relayed twice.
	rows, err := tx.QueryContext(ctx, "SELECT id, topic, uuid, payload, metadata FROM outbox ORDER BY id LIMIT ?"+s.dialect.forUpdate+s.dialect.skipLocked, batchSize)
	if err != nil {
		return 0, err
	}
	var batch []outboxRow
	for rows.Next() {
		var (
			row      outboxRow
			uuid     string
			payload  []byte
			metadata string
		)
		if err := rows.Scan(&row.id, &row.to, &uuid, &payload, &metadata); err != nil {
			rows.Close()
			return 0, err
		}
		row.msg = message.NewMessage(uuid, payload)
		if err := json.Unmarshal([]byte(metadata), &row.msg.Metadata); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox row %d: bad metadata: %w", row.id, err)
		}
		batch = append(batch, row)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}

	// One publish per topic, in the order of the outbox: a transport that can
	// send several messages at once does so, and order only matters, and is
	// kept, within a topic.
	var (
		ids     = make([]any, len(batch))
		topics  []string
		byTopic = map[string][]*message.Message{}
	)
	for i, row := range batch {
		if _, seen := byTopic[row.to]; !seen {
			topics = append(topics, row.to)
		}
		byTopic[row.to] = append(byTopic[row.to], row.msg)
		ids[i] = row.id
	}
	for _, topic := range topics {
		if err := publisher.Publish(topic, byTopic[topic]...); err != nil {
			return 0, fmt.Errorf("publishing %d outbox rows to %s: %w", len(byTopic[topic]), topic, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM outbox WHERE id IN "+placeholderList(len(ids)), ids...); err != nil {
		return 0, err
	}
	return len(batch), tx.Commit()
}
