package command

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/tech"
)

// MergeTech merges the duplicate TechID into IntoID. Its type name is its
// name on the wire: renaming it is a breaking change.
type MergeTech struct {
	CommandID   string    `json:"commandId"`
	TechID      string    `json:"techId"`
	IntoID      string    `json:"intoId"`
	RequestedAt time.Time `json:"requestedAt"`
}

// MergeTechHandler applies MergeTech commands.
type MergeTechHandler decorator.CommandHandler[MergeTech]

type mergeTechHandler struct {
	techs  TechChanger
	policy tech.PriorityPolicy
	now    func() time.Time
	logger *slog.Logger
}

// NewMergeTechHandler builds the handler; now may be nil for the wall clock.
func NewMergeTechHandler(techs TechChanger, policy tech.PriorityPolicy, now func() time.Time, logger *slog.Logger) MergeTechHandler {
	if techs == nil {
		panic("nil techs")
	}
	if policy == nil {
		panic("nil policy")
	}
	if logger == nil {
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	return decorator.ApplyCommandDecorators[MergeTech](mergeTechHandler{techs: techs, policy: policy, now: now, logger: logger}, logger)
}

func (h mergeTechHandler) Handle(ctx context.Context, cmd MergeTech) error {
	if cmd.CommandID == "" {
		return apperr.InvalidField("commandId", "command id is empty")
	}
	ids := []string{cmd.TechID, cmd.IntoID}
	if cmd.TechID == cmd.IntoID {
		// One tech to lock; the rule refuses it.
		ids = ids[:1]
	}
	applied, err := h.techs.ChangeTechs(ctx, cmd.CommandID, ids,
		func(ctx context.Context, techs []*tech.Tech, events EventPublisher) (bool, error) {
			duplicate, target := techs[0], techs[len(techs)-1]
			changed, err := duplicate.MergeInto(target, h.policy, h.now())
			if err != nil || !changed {
				return false, refusedIf(err)
			}
			return true, events.Publish(ctx, duplicate.Merged(*target, cmd.CommandID))
		})
	return settleChange(ctx, h.logger, cmd.CommandID, applied, err)
}
