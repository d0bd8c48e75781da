package command

import (
	"context"

	"github.com/google/uuid"

	"github.com/techradar/techradar/app/apperr"
)

// newCommandID is the id of a command the client gave no key for: a UUIDv7,
// so that ids sort by the time they were made.
func newCommandID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// sendOrForget sends cmd on the bus. When that fails, and this submission is
// the one that recorded the command, forget removes the record: the client is
// told the command was not accepted, so it must not be found pending.
func sendOrForget(ctx context.Context, bus CommandBus, cmd any, recorded bool, forget func(context.Context) error) error {
	if err := bus.Send(ctx, cmd); err != nil {
		if recorded {
			_ = forget(context.WithoutCancel(ctx))
		}
		return apperr.Unavailablef(err, "cannot send the command")
	}
	return nil
}
