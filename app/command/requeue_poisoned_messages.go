package command

import (
	"context"
	"log/slog"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
)

// RequeuePoisonedMessages puts poisoned messages back on the topic they came
// from: those of IDs, or when none are named and All is set, the oldest
// MaxRequeuedAtOnce.
type RequeuePoisonedMessages struct {
	IDs []int64
	All bool
}

// MaxRequeuedAtOnce bounds one requeue of every message: a message poisoned
// again while the requeue runs waits for the next one instead of going round.
const MaxRequeuedAtOnce = 10_000

// FailedCommands reopens failed commands.
type FailedCommands interface {
	// ReopenFailed puts a failed command back to pending, so that it is
	// applied when it is delivered again.
	ReopenFailed(ctx context.Context, id string) error
}

// RequeuePoisonedMessagesHandler handles RequeuePoisonedMessages and returns
// how many messages it requeued, those before a failure included.
type RequeuePoisonedMessagesHandler decorator.SubmissionHandler[RequeuePoisonedMessages, int]

type requeuePoisonedMessagesHandler struct {
	queue    PoisonQueue
	commands FailedCommands
	requeuer MessageRequeuer
}

func NewRequeuePoisonedMessagesHandler(queue PoisonQueue, commands FailedCommands, requeuer MessageRequeuer, logger *slog.Logger) RequeuePoisonedMessagesHandler {
	if queue == nil {
		panic("nil queue")
	}
	if commands == nil {
		panic("nil commands")
	}
	if requeuer == nil {
		panic("nil requeuer")
	}
	if logger == nil {
		panic("nil logger")
	}
	return decorator.ApplySubmissionDecorators[RequeuePoisonedMessages, int](
		requeuePoisonedMessagesHandler{queue: queue, commands: commands, requeuer: requeuer},
		logger,
	)
}

// requeueBatch is how many messages one read of the queue returns.
const requeueBatch = 100

func (h requeuePoisonedMessagesHandler) Handle(ctx context.Context, cmd RequeuePoisonedMessages) (int, error) {
	ids := cmd.IDs
	switch {
	case len(ids) > 0:
		if err := requireKept(ctx, h.queue, ids); err != nil {
			return 0, err
		}
	case cmd.All:
		var err error
		if ids, err = h.queue.OldestIDs(ctx, MaxRequeuedAtOnce); err != nil {
			return 0, err
		}
	default:
		return 0, apperr.InvalidField("ids", "name the ids to requeue, or ask for all")
	}

	requeued := 0
	err := inBatches(ctx, h.queue, ids, func(m PoisonedMessage) error {
		if err := h.requeue(ctx, m); err != nil {
			return err
		}
		requeued++
		return nil
	})
	return requeued, err
}

// requeue puts m back on its topic and forgets it. A command goes back to
// pending first, so that its handler applies it. A crash in between requeues
// the message twice at worst: handlers are idempotent.
func (h requeuePoisonedMessagesHandler) requeue(ctx context.Context, m PoisonedMessage) error {
	if id := h.requeuer.CommandID(m); id != "" {
		if err := h.commands.ReopenFailed(ctx, id); err != nil {
			return err
		}
	}
	if err := h.requeuer.Requeue(ctx, m); err != nil {
		return err
	}
	return h.queue.Delete(ctx, m.ID)
}

// requireKept fails with apperr.NotFound, naming the first id, unless every one
// of ids is in the queue.
func requireKept(ctx context.Context, queue PoisonQueue, ids []int64) error {
	kept := make(map[int64]bool, len(ids))
	err := inBatches(ctx, queue, ids, func(m PoisonedMessage) error {
		kept[m.ID] = true
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !kept[id] {
			return apperr.NotFoundf("no poisoned message %d", id)
		}
	}
	return nil
}

// inBatches reads the messages of ids that are kept, a batch at a time, and
// runs fn on each, in id order within a batch, until fn fails.
func inBatches(ctx context.Context, queue PoisonQueue, ids []int64, fn func(PoisonedMessage) error) error {
	for start := 0; start < len(ids); start += requeueBatch {
		batch, err := queue.Poisoned(ctx, ids[start:min(start+requeueBatch, len(ids))])
		if err != nil {
			return err
		}
		for _, m := range batch {
			if err := fn(m); err != nil {
				return err
			}
		}
	}
	return nil
}
