package command

import (
	"context"
	"log/slog"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/domain/tech"
)

// TechChange applies a curator's command to the techs it names, in the order
// they were asked for, and publishes the events of what changed; changed
// false stores nothing (a command sent twice).
type TechChange func(ctx context.Context, techs []*tech.Tech, events EventPublisher) (changed bool, err error)

// TechChanger changes existing techs in the transaction of the command that
// asks for it; a command processed before is not applied again.
type TechChanger interface {
	// ChangeTechs locks the techs of ids and runs change on them. When a
	// tech is missing (an apperr.NotFound error) or change refuses with an
	// *apperr.Error, the command is recorded failed with that message in the
	// same transaction and the error is returned: no redelivery can mend it.
	// applied is false when the command was processed (or failed) before.
	ChangeTechs(ctx context.Context, commandID string, ids []string, change TechChange) (applied bool, err error)
}

// refused turns a domain rule's error into the refusal the command log
// records.
func refused(err error) error {
	return &apperr.Error{Code: apperr.Invalid, Message: err.Error()}
}

// settleChange is what a curator's command handler returns once
// ChangeTechs is through: a refusal is recorded already, so the message is
// done with; any other error is retried.
func settleChange(ctx context.Context, logger *slog.Logger, commandID string, applied bool, err error) error {
	if err != nil {
		if code := apperr.CodeOf(err); code == apperr.Invalid || code == apperr.NotFound {
			logger.InfoContext(ctx, "command refused", slog.String("command_id", commandID), slog.String("reason", err.Error()))
			return nil
		}
		return err
	}
	if !applied {
		logger.InfoContext(ctx, "command already applied, skipped", slog.String("command_id", commandID))
	}
	return nil
}
