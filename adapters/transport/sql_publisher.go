package transport

import (
	"context"
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

// PublishSeparately writes each message where a publish of it alone would
// go, all in one transaction: the messages a BatchingPublisher joins spread
// over the partitions as their separate publishes would, for one commit.
func (p *sqlTransportPublisher) PublishSeparately(topic string, messages ...*message.Message) error {
	return p.publishing(messages, func() error { return p.transport.insertSeparately(topic, messages) })
}

// insertSeparately writes each message to the partition its own publish
// would take, in one transaction.
func (t *SQL) insertSeparately(topic string, messages []*message.Message) error {
	if err := t.checkTopic(topic); err != nil {
		return err
	}
	var (
		partitions  []string
		byPartition = map[string][]*message.Message{}
	)
	for _, msg := range messages {
		partition := t.partitionOf(topic, []*message.Message{msg})
		if _, ok := byPartition[partition]; !ok {
			partitions = append(partitions, partition)
		}
		byPartition[partition] = append(byPartition[partition], msg)
	}
	writes := make([]sqlPartitionWrite, len(partitions))
	for i, partition := range partitions {
		writes[i] = sqlPartitionWrite{partition: partition, messages: byPartition[partition]}
	}
	return t.insertInto(context.Background(), writes)
}

// insert writes messages into their partition of topic in one transaction.
func (t *SQL) insert(ctx context.Context, topic string, messages []*message.Message) error {
	if err := t.checkTopic(topic); err != nil {
		return err
	}
	return t.insertInto(ctx, []sqlPartitionWrite{{partition: t.partitionOf(topic, messages), messages: messages}})
}

// sqlPartitionWrite is messages to append, in order, to one partition.
type sqlPartitionWrite struct {
	partition string
	messages  []*message.Message
}

// insertInto appends every write in one transaction, holding the gates of
// their partitions shared, and wakes this process's subscriptions to those
// partitions. It creates the partitions' tables first if needed, so that a
// message published before any subscriber exists is kept.
func (t *SQL) insertInto(ctx context.Context, writes []sqlPartitionWrite) error {
	type partitionInsert struct {
		partition string
		query     watermillsql.Query
	}
	gates := make([]any, 0, len(writes))
	inserts := make([]partitionInsert, 0, len(writes))
	for _, w := range writes {
		if err := t.initializeTopic(ctx, w.partition); err != nil {
			return err
		}
		insert, err := t.schema.InsertQuery(w.partition, w.messages)
		if err != nil {
			return fmt.Errorf("sql transport: building the insert into topic %s: %w", w.partition, err)
		}
		inserts = append(inserts, partitionInsert{partition: w.partition, query: insert})
		gates = append(gates, sqlTransportTable("watermill_", w.partition))
	}
	// Read committed, as every session of the transport's pools.
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sql transport: publishing to %s: %w", writes[0].partition, err)
	}
	// One statement locks every gate, in the order of the key, as every
	// publish does: two publishes never wait for each other's gates in
	// opposite orders.
	// #nosec G202 -- a constant table name and placeholders are joined; the gates go as arguments
	rows, err := tx.QueryContext(ctx, "SELECT `messages_table` FROM "+sqlTransportGatesTable+
		" WHERE `messages_table` IN (?"+strings.Repeat(", ?", len(gates)-1)+") ORDER BY `messages_table` LOCK IN SHARE MODE", gates...)
	if err == nil {
		locked := 0
		for rows.Next() {
			locked++
		}
		err = errors.Join(rows.Err(), rows.Close())
		if err == nil && locked != len(gates) {
			err = fmt.Errorf("%d of %d gates found", locked, len(gates))
		}
	}
	if err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("sql transport: locking the gates of %s: %w", writes[0].partition, err)
	}
	for i, insert := range inserts {
		insertCtx := ctx
		if i == len(inserts)-1 {
			// The last insert commits, in its own round trip.
			insertCtx = mysqldb.WithCommit(ctx)
		}
		if _, err := tx.ExecContext(insertCtx, insert.query.Query, insert.query.Args...); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("sql transport: inserting into topic %s: %w", insert.partition, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sql transport: committing to topic %s: %w", writes[0].partition, err)
	}
	for _, w := range writes {
		t.wakeups.of(w.partition).signal()
	}
	return nil
}
