package transport

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
)

// highWaterMark returns an offset below which every message of topic that
// will ever be visible already is. Every publish holds the topic's gate row
// shared from before its insert takes an offset until it commits; taking the
// row exclusively waits for the publishes in flight and holds new ones back
// for as long as reading the largest offset takes. Offsets up to that one are
// final: an insert still to come takes a larger one.
//
// A look without locks comes first: when no message past the group's offset
// is visible, there is nothing to read yet, and no reason to hold publishers
// back. That is every poll of an idle topic, and nothingNew says so.
func (t *SQL) highWaterMark(ctx context.Context, topic, consumerGroup string) (mark int64, nothingNew bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, sqlTransportBarrierTimeout)
	defer cancel()
	var largest, acked sql.NullInt64
	if err := t.barrierDB.QueryRowContext(ctx,
		"SELECT (SELECT MAX(`offset`) FROM "+t.schema.MessagesTable(topic)+"), "+
			"(SELECT `offset_acked` FROM "+t.offsets.MessagesOffsetsTable(topic)+" WHERE `consumer_group` = ?)",
		consumerGroup).Scan(&largest, &acked); err != nil {
		return 0, false, fmt.Errorf("reading the offsets of topic %s: %w", topic, err)
	}
	if largest.Int64 <= acked.Int64 {
		return acked.Int64, true, nil
	}

	// Read committed, as every session of the transport's pools.
	tx, err := t.barrierDB.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var gate string
	if err := tx.QueryRowContext(ctx, "SELECT `messages_table` FROM "+sqlTransportGatesTable+" WHERE `messages_table` = ? FOR UPDATE",
		sqlTransportTable("watermill_", topic)).Scan(&gate); err != nil {
		return 0, false, fmt.Errorf("locking the gate of topic %s: %w", topic, err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT MAX(`offset`) FROM "+t.schema.MessagesTable(topic)).Scan(&largest); err != nil {
		return 0, false, fmt.Errorf("reading the last offset of topic %s: %w", topic, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, false, err
	}
	return largest.Int64, false, nil
}

// sqlTransportSchema is the library's MySQL schema, read up to the high-water
// mark by sqlPollingSchema, the schema the subscribers are given.
type sqlTransportSchema struct {
	watermillsql.DefaultMySQLSchema
	// highWaterMark is the transport's: see SQL.highWaterMark.
	highWaterMark func(ctx context.Context, topic, consumerGroup string) (mark int64, nothingNew bool, err error)
	logger        watermill.LoggerAdapter
}

// selectQuery is the library's select query, read up to the high-water mark
// (sqlPollingSchema.SelectQuery hands it over: the interface has no better
// place, and the library asks for the query right before it runs it; a
// failure reads nothing this round), and whether the group had nothing past
// its offset when the query was asked for: only then may an empty read wait
// for a wake-up. An empty read of a partition that has messages (the
// high-water mark failed, or the first message was not acked in time) must
// poll again soon.
func (s sqlTransportSchema) selectQuery(topic string, consumerGroup string, offsets watermillsql.OffsetsAdapter) (query watermillsql.Query, nothingNew bool) {
	mark, nothingNew, err := s.highWaterMark(context.Background(), topic, consumerGroup)
	if err != nil {
		s.logger.Error("Cannot take the high-water mark, reading nothing", err, watermill.LogFields{"topic": topic, "consumer_group": consumerGroup})
		mark, nothingNew = 0, false
	}
	next := offsets.NextOffsetQuery(topic, consumerGroup)
	return watermillsql.Query{
		Query: "SELECT `offset`, `uuid`, `payload`, `metadata` FROM " + s.MessagesTable(topic) +
			" WHERE `offset` > (" + next.Query + ") AND `offset` <= ? ORDER BY `offset` ASC LIMIT " + strconv.Itoa(s.SubscribeBatchSize),
		Args: append(append([]any{}, next.Args...), mark),
	}, nothingNew
}

// SubscribeIsolationLevel is the session's, READ COMMITTED (every pool of
// the transport comes from mysqldb.Open; naming the level would cost a
// statement per transaction): the high-water mark makes the library's
// SERIALIZABLE unneeded, and SERIALIZABLE reads lock the gap after the last
// message, which held every publish to the topic back while a subscriber
// handled its batch.
func (s sqlTransportSchema) SubscribeIsolationLevel() sql.IsolationLevel {
	return sql.LevelDefault
}

// sqlTransportOffsets is the library's MySQL offsets table, with the group's
// row created before the group first reads. Without the row, two subscribers
// of a new group would both find no row to lock, and both read the first
// batch.
type sqlTransportOffsets struct {
	watermillsql.DefaultMySQLOffsetsAdapter
}

func (a sqlTransportOffsets) BeforeSubscribingQueries(topic, consumerGroup string) []watermillsql.Query {
	return []watermillsql.Query{{
		Query: "INSERT IGNORE INTO " + a.MessagesOffsetsTable(topic) + " (consumer_group, offset_acked, offset_consumed) VALUES (?, 0, 0)",
		Args:  []any{consumerGroup},
	}}
}

// ConsumedMessageQuery is none. The library writes every message's offset
// as consumed before handing it over, only so that two subscribers of a
// group that both found no offset row to lock collide there; here the row
// exists before the group first reads (BeforeSubscribingQueries) and the
// offset query locks it, so they take turns from the start. That is one
// statement less per message.
func (a sqlTransportOffsets) ConsumedMessageQuery(string, watermillsql.Row, string, []byte) watermillsql.Query {
	return watermillsql.Query{}
}
