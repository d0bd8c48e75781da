package command

import (
	"context"
	"log/slog"
	"slices"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
)

// DeletePoisonedMessages forgets poisoned messages an operator gave up on.
// Their commands stay failed.
type DeletePoisonedMessages struct {
	IDs []int64
}

// DeletePoisonedMessagesHandler handles DeletePoisonedMessages. Every id must
// be in the queue when it starts: otherwise nothing is deleted.
type DeletePoisonedMessagesHandler decorator.CommandHandler[DeletePoisonedMessages]

type deletePoisonedMessagesHandler struct {
	queue PoisonQueue
}

func NewDeletePoisonedMessagesHandler(queue PoisonQueue, logger *slog.Logger) DeletePoisonedMessagesHandler {
	if queue == nil {
		panic("nil queue")
	}
	if logger == nil {
		panic("nil logger")
	}
	return decorator.ApplyCommandDecorators[DeletePoisonedMessages](deletePoisonedMessagesHandler{queue: queue}, logger)
}

func (h deletePoisonedMessagesHandler) Handle(ctx context.Context, cmd DeletePoisonedMessages) error {
	if len(cmd.IDs) == 0 {
		return apperr.InvalidField("ids", "name the ids to delete")
	}
	ids := slices.Compact(slices.Sorted(slices.Values(cmd.IDs)))
	if err := requireKept(ctx, h.queue, ids); err != nil {
		return err
	}
	for _, id := range ids {
		if err := h.queue.Delete(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
