package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// PoisonedMessage is a message that failed for good: what it was, where it
// came from, which handler gave up on it and why.
type PoisonedMessage struct {
	ID         int64
	Topic      string
	Handler    string
	Reason     string
	Message    *message.Message
	PoisonedAt time.Time
}

// PoisonedMessageFrom reads what the poison middleware recorded in msg's
// metadata. The message itself keeps its UUID, payload and original metadata.
func PoisonedMessageFrom(msg *message.Message, at time.Time) PoisonedMessage {
	original := message.NewMessage(msg.UUID, msg.Payload)
	for k, v := range msg.Metadata {
		switch k {
		case middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey, middleware.PoisonedSubscriberKey, middleware.ReasonForPoisonedKey:
		default:
			original.Metadata.Set(k, v)
		}
	}
	return PoisonedMessage{
		Topic:      msg.Metadata.Get(middleware.PoisonedTopicKey),
		Handler:    msg.Metadata.Get(middleware.PoisonedHandlerKey),
		Reason:     msg.Metadata.Get(middleware.ReasonForPoisonedKey),
		Message:    original,
		PoisonedAt: at.UTC(),
	}
}

// RecordPoisoned keeps p; recording the same message for the same handler again
// changes nothing.
func (s *Store) RecordPoisoned(ctx context.Context, p PoisonedMessage) error {
	if p.Topic == "" {
		return errors.New("poisoned message without its topic")
	}
	metadata, err := json.Marshal(p.Message.Metadata)
	if err != nil {
		return err
	}
	_, err = s.writeDB.ExecContext(ctx, s.dialect.insertPoisonedIfAbsent,
		p.Message.UUID, p.Topic, p.Handler, p.Reason, []byte(p.Message.Payload), string(metadata), p.PoisonedAt)
	return err
}

// ListPoisoned returns up to limit poisoned messages, oldest first.
func (s *Store) ListPoisoned(ctx context.Context, limit int) ([]PoisonedMessage, error) {
	rows, err := s.readDB.QueryContext(ctx,
		"SELECT id, uuid, topic, handler, reason, payload, metadata, poisoned_at FROM poisoned_messages ORDER BY id LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	var out []PoisonedMessage
	for rows.Next() {
		var (
			p        PoisonedMessage
			uuid     string
			payload  []byte
			metadata string
			at       sqlTime
		)
		if err := rows.Scan(&p.ID, &uuid, &p.Topic, &p.Handler, &p.Reason, &payload, &metadata, &at); err != nil {
			return nil, err
		}
		p.Message = message.NewMessage(uuid, payload)
		if err := json.Unmarshal([]byte(metadata), &p.Message.Metadata); err != nil {
			return nil, fmt.Errorf("poisoned message %d: bad metadata: %w", p.ID, err)
		}
		p.PoisonedAt = at.Time
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePoisoned forgets a poisoned message, once it has been requeued.
func (s *Store) DeletePoisoned(ctx context.Context, id int64) error {
	res, err := s.writeDB.ExecContext(ctx, "DELETE FROM poisoned_messages WHERE id = ?", id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("no poisoned message %d", id)
	}
	return nil
}

// CountPoisoned is how many poisoned messages wait for an operator.
func (s *Store) CountPoisoned(ctx context.Context) (int, error) {
	var n int
	err := s.readDB.QueryRowContext(ctx, "SELECT COUNT(*) FROM poisoned_messages").Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}
