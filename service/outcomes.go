package service

import (
	"context"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/sms"
)

// submitOptionsFor makes the submissions answer what became of a command when
// the transport has delivered it by the time the send returns (the embedded
// mode): there, pending or queued would already be untrue. The transports that
// only queue the command get no option, and their answers no extra read.
func submitOptionsFor(t transport.Transport, b backends) []command.SubmitOption {
	if !deliversBeforeSendReturns(t) {
		return nil
	}
	return []command.SubmitOption{command.AnswerAfterDelivery(commandOutcomes{b.commands}, smsOutcomes{b.sms.messages})}
}

// deliversBeforeSendReturns reports whether a command sent on t has been
// handled by the time the send returns.
func deliversBeforeSendReturns(t transport.Transport) bool {
	synchronous, ok := t.(transport.Synchronous)
	return ok && synchronous.DeliversBeforePublishReturns()
}

// commandOutcomes tells a command's outcome: what this process's own
// transaction just made of it, or else what the command log holds.
type commandOutcomes struct{ log *sqlstore.CommandLog }

func (o commandOutcomes) CommandOutcome(ctx context.Context, id string) (command.Status, string, error) {
	if techID, ok := o.log.TakeSettledOutcome(id); ok {
		return command.StatusProcessed, techID, nil
	}
	report, err := o.log.CommandReport(ctx, id)
	return command.Status(report.Status), report.TechID, err
}

// smsOutcomes reads an SMS's status from the SMS records.
type smsOutcomes struct{ messages *sqlstore.SMSRepository }

func (o smsOutcomes) SMSStatus(ctx context.Context, id string) (sms.Status, error) {
	report, err := o.messages.SMSReport(ctx, id)
	return report.Status, err
}
