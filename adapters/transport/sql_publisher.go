package transport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/mysqldb"
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
	return p.publishing(messages, func() error { return p.transport.insert(context.Background(), topic, messages) })
}

// publishing runs publish unless the publisher is closed or there are no
// messages, holding off Close until it returns.
func (p *sqlTransportPublisher) publishing(messages []*message.Message, publish func() error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return errSQLTransportPublisherClosed
	}
	if len(messages) == 0 {
		return nil
	}
	return publish()
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

// insert writes messages into the partition of topic this process publishes
// to now, in one transaction that holds the partition's gate shared, and
// wakes this process's subscriptions to it. It creates the partition's tables
// first if needed, so that a message published before any subscriber exists
// is kept.
func (t *SQL) insert(ctx context.Context, topic string, messages []*message.Message) error {
	write, err := t.writeOf(topic, messages)
	if err != nil {
		return err
	}
	writes := []sqlPartitionWrite{write}
	lockGate, inserts, err := t.writeStatements(ctx, writes)
	if err != nil {
		return err
	}
	// Read committed, as every session of the transport's pools.
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sql transport: publishing to %s: %w", write.partition, err)
	}
	var gate string
	if err := tx.QueryRowContext(ctx, lockGate.Query, lockGate.Args...).Scan(&gate); err != nil {
		_ = tx.Rollback()
		if errors.Is(err, sql.ErrNoRows) {
			err = errors.New("its gate is missing")
		}
		return fmt.Errorf("sql transport: locking the gate of %s: %w", write.partition, err)
	}
	// The insert also commits, in the same round trip.
	if _, err := tx.ExecContext(mysqldb.WithCommit(ctx), inserts[0].Query, inserts[0].Args...); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("sql transport: inserting into topic %s: %w", write.partition, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sql transport: committing to topic %s: %w", write.partition, err)
	}
	t.wake(writes)
	return nil
}

// writeOf puts messages, in order, in the partition of topic this process
// publishes to now.
func (t *SQL) writeOf(topic string, messages []*message.Message) (sqlPartitionWrite, error) {
	if err := t.checkTopic(topic); err != nil {
		return sqlPartitionWrite{}, err
	}
	return sqlPartitionWrite{partition: t.partitionOf(topic), messages: messages}, nil
}

// sqlPartitionWrite is messages to append, in order, to one partition.
type sqlPartitionWrite struct {
	partition string
	messages  []*message.Message
}

// writeStatements creates the tables of the writes' partitions if needed,
// outside any transaction, and returns the statements that append them in
// one: lockGates, which holds the partitions' gates shared until the commit
// and reads one row for each, then an insert per write, in order.
func (t *SQL) writeStatements(ctx context.Context, writes []sqlPartitionWrite) (lockGates watermillsql.Query, inserts []watermillsql.Query, err error) {
	gates := make([]any, 0, len(writes))
	inserts = make([]watermillsql.Query, 0, len(writes))
	for _, w := range writes {
		if err := t.initializeTopic(ctx, w.partition); err != nil {
			return watermillsql.Query{}, nil, err
		}
		insert, err := t.schema.InsertQuery(w.partition, w.messages)
		if err != nil {
			return watermillsql.Query{}, nil, fmt.Errorf("sql transport: building the insert into topic %s: %w", w.partition, err)
		}
		inserts = append(inserts, insert)
		gates = append(gates, sqlTransportTable("watermill_", w.partition))
	}
	// One statement locks every gate, in the order of the key, as every
	// publish does: two publishes never wait for each other's gates in
	// opposite orders.
	lockGates = watermillsql.Query{
		// #nosec G202 -- a constant table name and placeholders are joined; the gates go as arguments
		Query: "SELECT `messages_table` FROM " + sqlTransportGatesTable +
			" WHERE `messages_table` IN (?" + strings.Repeat(", ?", len(gates)-1) + ") ORDER BY `messages_table` LOCK IN SHARE MODE",
		Args: gates,
	}
	return lockGates, inserts, nil
}

// wake tells this process's subscriptions to the writes' partitions that
// they grew.
func (t *SQL) wake(writes []sqlPartitionWrite) {
	for _, w := range writes {
		t.wakeups.of(w.partition).signal()
	}
}

// TopicMessages are messages to publish to one topic, in order.
type TopicMessages struct {
	Topic    string
	Messages []*message.Message
}

// StatementsToPublish returns the statements that publish the messages of
// every topic of publishes within a transaction of another pool on the
// transport's database, the store's, so that they exist if, and only if,
// that transaction commits: an outbox there needs no relay. The messages of a
// topic go to the partition a publish of them would take.
//
// The statements must run in order, in one transaction: the first holds the
// gates of every partition they write shared, in the order of the gates'
// key, as every publish does (see highWaterMark), so that two transactions
// that publish to the same topics never wait for each other's gates in a
// cycle; the inserts follow. The transaction should take no lock after them,
// and commit at once: a read of those partitions waits for their gates, and
// so for the transaction. published wakes this process's subscriptions once
// the transaction has committed; the other processes find the messages at
// their next poll.
//
// The partitions' tables and gates are created first if needed, outside the
// transaction, on the transport's own pool. A gate removed by hand is not
// noticed here, where the publish would lock nothing; the subscribers of its
// partition then fail to take the high-water mark and read nothing, so no
// message is skipped.
func (t *SQL) StatementsToPublish(ctx context.Context, publishes []TopicMessages) (statements []watermillsql.Query, published func(), err error) {
	var writes []sqlPartitionWrite
	for _, p := range publishes {
		if len(p.Messages) == 0 {
			continue
		}
		write, err := t.writeOf(p.Topic, p.Messages)
		if err != nil {
			return nil, nil, err
		}
		writes = append(writes, write)
	}
	if len(writes) == 0 {
		return nil, func() {}, nil
	}
	lockGates, inserts, err := t.writeStatements(ctx, writes)
	if err != nil {
		return nil, nil, err
	}
	statements = append(append(make([]watermillsql.Query, 0, 1+len(inserts)), lockGates), inserts...)
	return statements, func() { t.wake(writes) }, nil
}
