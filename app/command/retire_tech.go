package command

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/tech"
)

// RetireTech hides a tech from the list. Its type name is its name on the
// wire: renaming it is a breaking change.
type RetireTech struct {
	CommandID   string    `json:"commandId"`
	TechID      string    `json:"techId"`
	Reason      string    `json:"reason,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
}

// RetireTechHandler applies RetireTech commands.
type RetireTechHandler decorator.CommandHandler[RetireTech]

type retireTechHandler struct {
	techs  TechChanger
	now    func() time.Time
	logger *slog.Logger
}

// NewRetireTechHandler builds the handler; now may be nil for the wall clock.
func NewRetireTechHandler(techs TechChanger, now func() time.Time, logger *slog.Logger) RetireTechHandler {
	if techs == nil {
		panic("nil techs")
	}
	if logger == nil {
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	return decorator.ApplyCommandDecorators[RetireTech](retireTechHandler{techs: techs, now: now, logger: logger}, logger)
}

func (h retireTechHandler) Handle(ctx context.Context, cmd RetireTech) error {
	if cmd.CommandID == "" {
		return apperr.InvalidField("commandId", "command id is empty")
	}
	applied, err := h.techs.ChangeTechs(ctx, cmd.CommandID, []string{cmd.TechID},
		func(ctx context.Context, techs []*tech.Tech, events EventPublisher) (bool, error) {
			// The API checked the reason; a message made by hand is checked again.
			reason, err := tech.ParseRetireReason(cmd.Reason)
			if err != nil {
				return false, refused(err)
			}
			t := techs[0]
			changed, err := t.Retire(reason, h.now())
			if err != nil || !changed {
				return false, refusedIf(err)
			}
			return true, events.Publish(ctx, t.Retired(cmd.CommandID))
		})
	return settleChange(ctx, h.logger, cmd.CommandID, applied, err)
}

func refusedIf(err error) error {
	if err == nil {
		return nil
	}
	return refused(err)
}
