package command

import (
	"context"

	"github.com/techradar/techradar/domain/sms"
)

// CommandOutcomes reads what became of a command.
type CommandOutcomes interface {
	// CommandOutcome is the status of command id and, once processed, the
	// aggregate it changed.
	CommandOutcome(ctx context.Context, id string) (status Status, aggregateID string, err error)
}

// SMSOutcomes reads where an SMS is.
type SMSOutcomes interface {
	// SMSStatus is the status of SMS id.
	SMSStatus(ctx context.Context, id string) (sms.Status, error)
}

// SubmitOption changes how a submission handler answers.
type SubmitOption func(*submitOptions)

type submitOptions struct {
	commands CommandOutcomes
	sms      SMSOutcomes
}

// AnswerAfterDelivery is for a bus whose Send returns only once the handler
// has acknowledged the command (the in-process transport): the submission then
// reads the command's outcome after the send and answers it (processed, with
// the tech; an SMS sent or failed) instead of the pending or queued it recorded
// before, which is no longer true. On a bus that only queues the command the
// option is left out, and the answer costs no read.
func AnswerAfterDelivery(commands CommandOutcomes, messages SMSOutcomes) SubmitOption {
	return func(o *submitOptions) { o.commands, o.sms = commands, messages }
}

func applySubmitOptions(opts []SubmitOption) submitOptions {
	var o submitOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
