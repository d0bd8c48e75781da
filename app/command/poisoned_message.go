package command

import (
	"context"
	"time"
)

// PoisonedMessage is a message that failed for good: what it was, where it
// came from, which handler gave up on it and why. An operator lists it,
// requeues it or deletes it.
type PoisonedMessage struct {
	// ID is the queue's number for it, set once it is kept.
	ID         int64
	UUID       string
	Topic      string
	Handler    string
	Reason     string
	Payload    []byte
	Metadata   map[string]string
	PoisonedAt time.Time
}

// PoisonQueue keeps poisoned messages until an operator requeues or deletes
// them.
type PoisonQueue interface {
	// Add keeps m; adding the same message for the same handler again changes
	// nothing.
	Add(ctx context.Context, m PoisonedMessage) error
	// Poisoned returns those of ids that are kept, in id order.
	Poisoned(ctx context.Context, ids []int64) ([]PoisonedMessage, error)
	// OldestIDs returns the ids of up to limit messages, oldest first.
	OldestIDs(ctx context.Context, limit int) ([]int64, error)
	// Delete forgets the message id.
	Delete(ctx context.Context, id int64) error
}

// MessageRequeuer is the transport as a requeue sees it.
type MessageRequeuer interface {
	// CommandID is the id of the command m carries, or "" when m is an event
	// or does not decode that far.
	CommandID(m PoisonedMessage) string
	// Requeue publishes m again on the topic it was poisoned from.
	Requeue(ctx context.Context, m PoisonedMessage) error
}
