package query

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
)

// PoisonedMessages lists up to Limit poisoned messages, oldest first.
type PoisonedMessages struct {
	Limit int
}

// PoisonedMessage is what an operator sees of a poisoned message.
type PoisonedMessage struct {
	ID         int64
	Topic      string
	Handler    string
	Reason     string
	Payload    []byte
	PoisonedAt time.Time
}

// PoisonedMessagesReadModel reads the poison queue.
type PoisonedMessagesReadModel interface {
	PoisonedMessages(ctx context.Context, limit int) ([]PoisonedMessage, error)
}

// PoisonedMessagesHandler answers PoisonedMessages.
type PoisonedMessagesHandler decorator.QueryHandler[PoisonedMessages, []PoisonedMessage]

type poisonedMessagesHandler struct {
	readModel PoisonedMessagesReadModel
}

func NewPoisonedMessagesHandler(readModel PoisonedMessagesReadModel, logger *slog.Logger) PoisonedMessagesHandler {
	if readModel == nil {
		panic("nil read model")
	}
	return decorator.ApplyQueryDecorators[PoisonedMessages, []PoisonedMessage](poisonedMessagesHandler{readModel: readModel}, logger)
}

// maxPoisonedListed bounds one list.
const maxPoisonedListed = 10_000

func (h poisonedMessagesHandler) Handle(ctx context.Context, q PoisonedMessages) ([]PoisonedMessage, error) {
	if q.Limit < 0 || q.Limit > maxPoisonedListed {
		return nil, apperr.InvalidField("limit", "limit must be between 0 and %d, got %d", maxPoisonedListed, q.Limit)
	}
	return h.readModel.PoisonedMessages(ctx, q.Limit)
}
