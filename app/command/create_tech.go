package command

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/tech"
)

// CreateTech is one mention of a tech. Its type name is its name on the wire:
// renaming it is a breaking change.
type CreateTech struct {
	CommandID   string    `json:"commandId"`
	Name        string    `json:"name"`
	RequestedAt time.Time `json:"requestedAt"`
}

// CreateTechHandler applies CreateTech commands.
type CreateTechHandler decorator.CommandHandler[CreateTech]

// EventPublisher publishes events as part of the transaction it was handed out
// with: they are delivered if, and only if, that transaction commits.
type EventPublisher interface {
	Publish(ctx context.Context, event any) error
}

// MentionFunc decides the new state of a tech from its current one (nil when the
// tech is new) and publishes the events that say what changed.
type MentionFunc func(ctx context.Context, current *tech.Tech, events EventPublisher) (tech.Tech, error)

// TechRepository stores techs together with the commands that changed them.
type TechRepository interface {
	// MentionTech runs mention on the tech keyed by key and, in one transaction,
	// stores the tech it returns, records commandID as processed and keeps the
	// events it published. If commandID was processed before, mention is not called
	// and applied is false: that is how a redelivered command changes nothing twice.
	MentionTech(ctx context.Context, commandID string, key string, mention MentionFunc) (applied bool, err error)
}

type createTechHandler struct {
	techs    TechRepository
	commands CommandLog
	policy   tech.PriorityPolicy
	now      func() time.Time
	logger   *slog.Logger
}

// NewCreateTechHandler builds the handler; now may be nil for the wall clock.
func NewCreateTechHandler(
	techs TechRepository,
	commands CommandLog,
	policy tech.PriorityPolicy,
	now func() time.Time,
	logger *slog.Logger,
) CreateTechHandler {
	if techs == nil {
		panic("nil techs")
	}
	if commands == nil {
		panic("nil commands")
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
	return decorator.ApplyCommandDecorators[CreateTech](
		createTechHandler{techs: techs, commands: commands, policy: policy, now: now, logger: logger},
		logger,
	)
}

func (h createTechHandler) Handle(ctx context.Context, cmd CreateTech) error {
	if cmd.CommandID == "" {
		// Without an id the command cannot be deduplicated or reported on.
		return apperr.InvalidField("commandId", "command id is empty")
	}
	name, err := tech.ParseName(cmd.Name)
	if err != nil {
		// The API validates names before sending, so only a message made by hand
		// gets here. Retrying cannot help: record the failure and move on.
		return h.commands.MarkFailed(ctx, cmd.CommandID, "invalid name: "+err.Error())
	}

	applied, err := h.techs.MentionTech(ctx, cmd.CommandID, name.Key(),
		func(ctx context.Context, current *tech.Tech, events EventPublisher) (tech.Tech, error) {
			if current == nil {
				created := tech.New(name, h.policy, h.now())
				return created, events.Publish(ctx, created.Created(cmd.CommandID))
			}
			mentioned := *current
			mentioned.Mention(h.policy, h.now())
			return mentioned, events.Publish(ctx, mentioned.Mentioned(cmd.CommandID))
		})
	if err != nil {
		return err
	}
	if !applied {
		h.logger.InfoContext(ctx, "command already applied, skipped", slog.String("command_id", cmd.CommandID))
	}
	return nil
}
