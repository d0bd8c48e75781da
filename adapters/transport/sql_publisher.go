package transport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// sqlTransportPublisher inserts with the library's schema, holding the
// topic's gate shared.
type sqlTransportPublisher struct {
	transport *SQL
	// mu is held shared by every publish and exclusively by close, which thus
	// waits for the publishes in flight.
	mu     sync.RWMutex
	closed bool
}

var errSQLTransportPublisherClosed = errors.New("sql transport: publisher closed")

// Publish writes messages in one transaction, in order. It creates the
// topic's tables first if needed, so that a message published before any
// subscriber exists is kept.
func (p *sqlTransportPublisher) Publish(topic string, messages ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return errSQLTransportPublisherClosed
	}
	if len(messages) == 0 {
		return nil
	}
	return p.transport.insert(context.Background(), topic, messages)
}

// Close refuses new publishes once those in flight are done; the transport
// closes the pool.
func (p *sqlTransportPublisher) Close() error {
	p.close()
	return nil
}

func (p *sqlTransportPublisher) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// insert writes messages into their partition of topic in one transaction,
// holding the topic's gate shared, and wakes this process's subscriptions to
// that partition. It creates the topic's tables first if needed, so that a
// message published before any subscriber exists is kept.
func (t *SQL) insert(ctx context.Context, topic string, messages []*message.Message) error {
	if err := t.checkTopic(topic); err != nil {
		return err
	}
	topic = t.partitionOf(topic, messages)
	if err := t.initializeTopic(ctx, topic); err != nil {
		return err
	}
	insert, err := t.schema.InsertQuery(topic, messages)
	if err != nil {
		return fmt.Errorf("sql transport: building the insert into topic %s: %w", topic, err)
	}
	tx, err := t.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("sql transport: publishing to %s: %w", topic, err)
	}
	var gate string
	if err := tx.QueryRowContext(ctx, "SELECT `messages_table` FROM "+sqlTransportGatesTable+" WHERE `messages_table` = ? LOCK IN SHARE MODE",
		sqlTransportTable("watermill_", topic)).Scan(&gate); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("sql transport: locking the gate of topic %s: %w", topic, err)
	}
	if _, err := tx.ExecContext(ctx, insert.Query, insert.Args...); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("sql transport: inserting into topic %s: %w", topic, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sql transport: committing to topic %s: %w", topic, err)
	}
	t.wakeups.of(topic).signal()
	return nil
}
