package command

import (
	"context"
	"errors"
	"log/slog"

	"github.com/techradar/techradar/app/decorator"
)

// RecordPoisonedMessage keeps a message the router gave up on. CommandID is
// the id of the command it carries, if any: that command is then failed, with
// the message's reason, so that its client learns it will not be applied.
type RecordPoisonedMessage struct {
	Message   PoisonedMessage
	CommandID string
}

// RecordPoisonedMessageHandler handles RecordPoisonedMessage. It is the one
// handler whose failures are never poisoned: a message it cannot record is
// retried and delivered again.
type RecordPoisonedMessageHandler decorator.CommandHandler[RecordPoisonedMessage]

type recordPoisonedMessageHandler struct {
	queue    PoisonQueue
	commands CommandLog
	logger   *slog.Logger
}

func NewRecordPoisonedMessageHandler(queue PoisonQueue, commands CommandLog, logger *slog.Logger) RecordPoisonedMessageHandler {
	if queue == nil {
		panic("nil queue")
	}
	if commands == nil {
		panic("nil commands")
	}
	if logger == nil {
		panic("nil logger")
	}
	return decorator.ApplyCommandDecorators[RecordPoisonedMessage](
		recordPoisonedMessageHandler{queue: queue, commands: commands, logger: logger},
		logger,
	)
}

func (h recordPoisonedMessageHandler) Handle(ctx context.Context, cmd RecordPoisonedMessage) error {
	m := cmd.Message
	if m.Topic == "" {
		return errors.New("poisoned message without its topic")
	}
	if err := h.queue.Add(ctx, m); err != nil {
		return err
	}
	h.logger.ErrorContext(ctx, "message poisoned",
		slog.String("topic", m.Topic), slog.String("handler", m.Handler),
		slog.String("message_uuid", m.UUID), slog.String("reason", m.Reason))
	if cmd.CommandID == "" {
		return nil
	}
	return h.commands.MarkFailed(ctx, cmd.CommandID, m.Reason)
}
