package query

import (
	"context"
	"log/slog"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
)

// CommandStatus asks what became of a command.
type CommandStatus struct {
	CommandID string
}

// CommandReport is what became of a command: pending, processed (TechID says
// which tech it touched) or failed (Error says why).
type CommandReport struct {
	CommandID string
	Status    string
	TechID    string
	Error     string
}

// CommandReadModel reads the command log.
type CommandReadModel interface {
	// CommandReport returns the report of id, or an apperr.NotFound error.
	CommandReport(ctx context.Context, id string) (CommandReport, error)
}

// CommandStatusHandler answers CommandStatus. It does not go through the cache:
// a status changes without a tech event to invalidate it.
type CommandStatusHandler decorator.QueryHandler[CommandStatus, CommandReport]

type commandStatusHandler struct {
	commands CommandReadModel
}

func NewCommandStatusHandler(commands CommandReadModel, logger *slog.Logger) CommandStatusHandler {
	if commands == nil {
		panic("nil commands")
	}
	return decorator.ApplyQueryDecorators[CommandStatus, CommandReport](commandStatusHandler{commands: commands}, logger)
}

func (h commandStatusHandler) Handle(ctx context.Context, q CommandStatus) (CommandReport, error) {
	if q.CommandID == "" {
		return CommandReport{}, apperr.InvalidField("id", "command id is empty")
	}
	return h.commands.CommandReport(ctx, q.CommandID)
}
