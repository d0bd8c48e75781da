package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
)

// PoisonQueue keeps the messages that failed for good, one row per message
// and handler, until an operator requeues or deletes them. Their metadata is
// kept as JSON.
type PoisonQueue struct {
	db *DB
}

var (
	_ command.PoisonQueue             = (*PoisonQueue)(nil)
	_ query.PoisonedMessagesReadModel = (*PoisonQueue)(nil)
)

// NewPoisonQueue is the poison queue kept in db.
func NewPoisonQueue(db *DB) (*PoisonQueue, error) {
	if db == nil {
		return nil, errors.New("nil db")
	}
	return &PoisonQueue{db: db}, nil
}

// Add keeps m; adding the same message for the same handler again changes
// nothing. m.ID is not read: the queue numbers its messages.
func (q *PoisonQueue) Add(ctx context.Context, m command.PoisonedMessage) error {
	if m.Metadata == nil {
		m.Metadata = map[string]string{}
	}
	metadata, err := json.Marshal(m.Metadata)
	if err != nil {
		return err
	}
	payload := m.Payload
	if payload == nil {
		payload = []byte{} // the column is NOT NULL
	}
	_, err = q.db.writer().ExecContext(ctx, q.db.sqlDialect().InsertPoisonedIfAbsent,
		m.UUID, m.Topic, m.Handler, m.Reason, payload, string(metadata), m.PoisonedAt.UTC())
	return err
}

// poisonedBatch bounds the ids one query of Poisoned names.
const poisonedBatch = 500

// Poisoned returns those of ids that are kept, in id order.
func (q *PoisonQueue) Poisoned(ctx context.Context, ids []int64) ([]command.PoisonedMessage, error) {
	var out []command.PoisonedMessage
	for start := 0; start < len(ids); start += poisonedBatch {
		chunk := ids[start:min(start+poisonedBatch, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		kept, err := q.read(ctx, "WHERE id IN "+placeholderList(len(chunk))+" ORDER BY id", args...)
		if err != nil {
			return nil, err
		}
		out = append(out, kept...)
	}
	// Each chunk is in order; ids need not have been.
	slices.SortFunc(out, func(a, b command.PoisonedMessage) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// OldestIDs returns the ids of up to limit messages, oldest first.
func (q *PoisonQueue) OldestIDs(ctx context.Context, limit int) ([]int64, error) {
	rows, err := q.db.reader().QueryContext(ctx, "SELECT id FROM poisoned_messages ORDER BY id LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// PoisonedMessages returns up to limit messages, oldest first, as an operator
// sees them.
func (q *PoisonQueue) PoisonedMessages(ctx context.Context, limit int) ([]query.PoisonedMessage, error) {
	kept, err := q.read(ctx, "ORDER BY id LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	out := make([]query.PoisonedMessage, len(kept))
	for i, m := range kept {
		out[i] = query.PoisonedMessage{ID: m.ID, Topic: m.Topic, Handler: m.Handler, Reason: m.Reason, Payload: m.Payload, PoisonedAt: m.PoisonedAt}
	}
	return out, nil
}

// Delete forgets the message id; a message that is not kept is an error.
func (q *PoisonQueue) Delete(ctx context.Context, id int64) error {
	res, err := q.db.writer().ExecContext(ctx, "DELETE FROM poisoned_messages WHERE id = ?", id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("no poisoned message %d", id)
	}
	return nil
}

// Count is how many poisoned messages wait for an operator.
func (q *PoisonQueue) Count(ctx context.Context) (int, error) {
	var n int
	err := q.db.reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM poisoned_messages").Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// read returns the messages the clause (WHERE, ORDER BY, LIMIT) selects.
func (q *PoisonQueue) read(ctx context.Context, clause string, args ...any) ([]command.PoisonedMessage, error) {
	rows, err := q.db.reader().QueryContext(ctx,
		"SELECT id, uuid, topic, handler, reason, payload, metadata, poisoned_at FROM poisoned_messages "+clause, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	var out []command.PoisonedMessage
	for rows.Next() {
		var (
			m        command.PoisonedMessage
			metadata string
			at       sqlTime
		)
		if err := rows.Scan(&m.ID, &m.UUID, &m.Topic, &m.Handler, &m.Reason, &m.Payload, &metadata, &at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(metadata), &m.Metadata); err != nil {
			return nil, fmt.Errorf("poisoned message %d: bad metadata: %w", m.ID, err)
		}
		m.PoisonedAt = at.Time
		out = append(out, m)
	}
	return out, rows.Err()
}
