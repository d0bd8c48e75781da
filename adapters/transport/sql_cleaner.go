package transport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

var _ Maintainer = (*SQL)(nil)

const (
	// sqlCleanBatchSize is the most messages one DELETE removes: it locks
	// those rows only, which no subscriber reads any more, and only while it
	// runs.
	sqlCleanBatchSize = 1000
	// sqlCleanMaxBatches bounds the DELETEs of one partition table in one
	// round; what is left waits for the next round.
	sqlCleanMaxBatches = 100
)

// Clean deletes, from each partition table this process uses, the messages
// every consumer group of the topic has acknowledged: those at or below the
// smallest offset_acked of its offsets table. A partition without a group
// keeps its messages, for the first group to read. The last message of a
// table always stays, so that a server that takes a table's next
// auto-increment offset from its largest row when it restarts (MySQL before
// 8.0) cannot hand out offsets the groups have acknowledged already.
func (t *SQL) Clean(ctx context.Context) (CleanReport, error) {
	report := newCleanReport()
	var errs []error
	t.initializedTopics.Range(func(partition, _ any) bool {
		removed, err := t.deleteConsumed(ctx, partition.(string))
		report.add(partition.(string), removed, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("sql transport: deleting the consumed messages of %s: %w", partition, err))
		}
		return ctx.Err() == nil
	})
	return report, errors.Join(errs...)
}

// deleteConsumed deletes, oldest first and in batches, the messages of one
// partition table that every group has acknowledged.
func (t *SQL) deleteConsumed(ctx context.Context, topic string) (int64, error) {
	var (
		groups         int
		acked, largest sql.NullInt64
	)
	// A group's offset_acked is NULL until it acknowledges: it has
	// acknowledged nothing.
	if err := t.db.QueryRowContext(ctx,
		"SELECT (SELECT COUNT(*) FROM "+t.offsets.MessagesOffsetsTable(topic)+"), "+
			"(SELECT MIN(COALESCE(`offset_acked`, 0)) FROM "+t.offsets.MessagesOffsetsTable(topic)+"), "+
			"(SELECT MAX(`offset`) FROM "+t.schema.MessagesTable(topic)+")").Scan(&groups, &acked, &largest); err != nil {
		return 0, err
	}
	if groups == 0 || !acked.Valid || !largest.Valid {
		return 0, nil
	}
	upTo := min(acked.Int64, largest.Int64-1)
	var deleted int64
	for range sqlCleanMaxBatches {
		// #nosec G202 -- the table is named by the quoted topic, whose prefix TOPIC_PREFIX is checked to be letters, digits, '-', '_' or '.'
		result, err := t.db.ExecContext(ctx,
			"DELETE FROM "+t.schema.MessagesTable(topic)+" WHERE `offset` <= ? ORDER BY `offset` LIMIT ?", upTo, sqlCleanBatchSize)
		if err != nil {
			return deleted, err
		}
		n, err := result.RowsAffected()
		deleted += n
		if err != nil || n < sqlCleanBatchSize {
			return deleted, err
		}
	}
	return deleted, nil
}
