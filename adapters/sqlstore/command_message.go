package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
)

// CommandEncoder makes of a command the message the command bus publishes
// for it, on its topic, with its metadata (correlation id, trace context).
// The wiring provides it from the messaging port, so that the store knows
// neither topic names nor the wire format.
type CommandEncoder func(ctx context.Context, cmd any) (topic string, msg *message.Message, err error)

// CommandLogOption configures a CommandLog.
type CommandLogOption func(*CommandLog)

// WithCommandEncoder keeps, beside each command accepted, the message encode
// makes of it: what the CommandResender publishes again while the command
// stays pending. Without it commands are recorded without their message and
// are never resent.
func WithCommandEncoder(encode CommandEncoder) CommandLogOption {
	return func(l *CommandLog) { l.encode = encode }
}

// WithSendInTransaction has the log send the message of each command it
// records with publish, in the transaction that records it, instead of
// leaving the send to the submission: for a transport whose messages live in
// the store's database, a command is then sent if, and only if, it is
// recorded, for one commit. Accept says so (command.Accepted.Sent). It needs
// WithCommandEncoder, which makes the messages, and does not go with
// WithSettledOutcomes: on a transport that delivers before the send returns,
// a submission without a key sends before it records (NewCommandLog refuses
// both).
func WithSendInTransaction(publish PublishInTransaction) CommandLogOption {
	return func(l *CommandLog) { l.sendInTx = publish }
}

// keptMessage is a command's message as the commands table keeps it.
type keptMessage struct {
	Topic    string
	UUID     string
	Payload  []byte
	Metadata string
}

// keepMessage encodes cmd for the commands table; nil when the log keeps no
// messages or there is no command.
func (l *CommandLog) keepMessage(ctx context.Context, cmd any) (*keptMessage, error) {
	if l.encode == nil || cmd == nil {
		return nil, nil
	}
	topic, msg, err := l.encode(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("encoding the command: %w", err)
	}
	metadata, err := json.Marshal(msg.Metadata)
	if err != nil {
		return nil, fmt.Errorf("encoding the command's metadata: %w", err)
	}
	return &keptMessage{Topic: topic, UUID: msg.UUID, Payload: msg.Payload, Metadata: string(metadata)}, nil
}

// columns are the values of the message columns of the commands table, in
// the order of acceptColumns: NULL for none.
func (m *keptMessage) columns() []any {
	if m == nil {
		return []any{nil, nil, nil, nil}
	}
	return []any{m.Topic, m.UUID, m.Payload, m.Metadata}
}

// topicColumn is the value of the topic column, which names the command's
// type: NULL for no message.
func (m *keptMessage) topicColumn() sql.NullString {
	if m == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: m.Topic, Valid: true}
}

// message is the kept message as it is published again.
func (m keptMessage) message() (*message.Message, error) {
	msg := message.NewMessage(m.UUID, m.Payload)
	if err := json.Unmarshal([]byte(m.Metadata), &msg.Metadata); err != nil {
		return nil, fmt.Errorf("bad metadata: %w", err)
	}
	return msg, nil
}
