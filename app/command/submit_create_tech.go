package command

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/tech"
)

// CommandBus carries commands to their handlers, possibly in another process.
// *cqrs.CommandBus is one.
type CommandBus interface {
	Send(ctx context.Context, cmd any) error
}

// Status is where a command is in its life.
type Status string

const (
	StatusPending   Status = "pending"
	StatusProcessed Status = "processed"
	StatusFailed    Status = "failed"
)

// CommandLog records what became of every accepted command.
type CommandLog interface {
	// Accept records id as pending unless it is known already; it returns
	// what the log holds under id now (see Accepted). cmd is the command sent
	// for it: the log keeps it, so that a command the transport loses can be
	// sent again, and remembers its type. request is the fingerprint of the
	// client's request (requestFingerprint), kept to compare a retry with.
	// A log that can send cmd in the transaction that records it does, and
	// says so (Accepted.Sent): the submission then sends nothing.
	Accept(ctx context.Context, id string, at time.Time, cmd any, request string) (Accepted, error)
	// Forget removes the pending record of a command that never reached the bus.
	Forget(ctx context.Context, id string) error
	// MarkFailed records that id can never be applied, and why.
	MarkFailed(ctx context.Context, id string, reason string) error
}

// SubmitCreateTech is a client's request to mention a tech. CommandID is the
// client's idempotency key; when empty a new id is made.
type SubmitCreateTech struct {
	CommandID string
	Name      string
}

// Submission is what the client is told at once: the command's id and
// status, and to a retry the tech once the command is processed.
type Submission struct {
	CommandID string
	Status    Status
	TechID    string
}

// SubmitCreateTechHandler validates a mention, records it as pending and sends
// CreateTech on the command bus. It answers before the command is applied unless
// the bus itself waits for the handler, and then, with AnswerAfterDelivery,
// answers what became of it.
type SubmitCreateTechHandler decorator.SubmissionHandler[SubmitCreateTech, Submission]

type submitCreateTechHandler struct {
	commands CommandLog
	bus      CommandBus
	now      func() time.Time
	// outcomes is set when the bus delivers before Send returns.
	outcomes CommandOutcomes
}

// NewSubmitCreateTechHandler builds the handler; now may be nil for the wall clock.
func NewSubmitCreateTechHandler(commands CommandLog, bus CommandBus, now func() time.Time, logger *slog.Logger, opts ...SubmitOption) SubmitCreateTechHandler {
	if commands == nil {
		panic("nil commands")
	}
	if bus == nil {
		panic("nil bus")
	}
	if logger == nil {
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	return decorator.ApplySubmissionDecorators[SubmitCreateTech, Submission](
		submitCreateTechHandler{commands: commands, bus: bus, now: now, outcomes: applySubmitOptions(opts).commands},
		logger,
	)
}

func (h submitCreateTechHandler) Handle(ctx context.Context, req SubmitCreateTech) (Submission, error) {
	name, err := tech.ParseName(req.Name)
	if err != nil {
		return Submission{}, apperr.InvalidField("name", "%s", err.Error())
	}

	id := clientScopedKey(ctx, req.CommandID)
	unnamed := id == ""
	if unnamed {
		if id, err = newCommandID(); err != nil {
			return Submission{}, err
		}
	}

	now := h.now().UTC()
	cmd := CreateTech{CommandID: id, Name: name.String(), RequestedAt: now}
	// Two spellings of one tech are one request.
	request := requestFingerprint(cmd, name.Key())
	return submitTechCommand(ctx, h.commands, h.bus, h.outcomes, id, unnamed, now, cmd, request)
}

// submitTechCommand records cmd under id in commands and sends it on bus, as
// every command on techs is submitted: a retry under the same key answers the
// recorded command, another request under it is refused, and with outcomes
// (a bus that delivers before Send returns) the answer is the command's
// outcome rather than "pending".
//
// unnamed says that id was made for this request, not taken from a key. With
// outcomes too, the command is sent before it is recorded, and recorded only
// when its outcome cannot be read afterwards: one write fewer per command.
// The pending record exists so that an accepted command cannot be lost by a
// transport (the log keeps it to send again) and so that a retry under a key
// finds it. On a bus that delivers before Send returns, the client is told
// nothing before the handler's transaction has recorded the command (claiming
// it inserts its row; a command poisoned is recorded failed), and a command
// the handler gave back or the transport dropped finds no outcome and is
// recorded then, message and all, before the answer; without a key, no retry
// can name the command.
func submitTechCommand(ctx context.Context, commands CommandLog, bus CommandBus, outcomes CommandOutcomes, id string, unnamed bool, now time.Time, cmd any, request string) (Submission, error) {
	var accepted Accepted
	var settled func(context.Context, Submission) (Submission, bool)
	if outcomes != nil {
		settled = func(ctx context.Context, stored Submission) (Submission, bool) {
			status, techID, err := outcomes.CommandOutcome(ctx, id)
			// Still pending once delivered: the handler gave the command
			// back (a failure, a shutdown). It is not settled, so a command
			// sent before it was recorded is recorded now, message and all,
			// for the resender.
			if err != nil || status == StatusPending {
				return stored, false
			}
			return Submission{CommandID: id, Status: status, TechID: techID}, true
		}
	}
	return submission[Submission]{
		what: "the command",
		record: func(ctx context.Context) (Submission, bool, error) {
			var err error
			accepted, err = commands.Accept(ctx, id, now, cmd, request)
			return Submission{CommandID: id, Status: accepted.Status, TechID: accepted.AggregateID}, accepted.Created, err
		},
		command: func(Submission) (any, error) {
			if err := refuseReusedKey(accepted, request); err != nil {
				return nil, err
			}
			if accepted.Sent {
				return nil, nil
			}
			return cmd, nil
		},
		forget:                func(ctx context.Context) error { return commands.Forget(ctx, id) },
		settled:               settled,
		recordOnlyIfUnsettled: unnamed,
	}.submit(ctx, bus)
}
