package command

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/sms"
)

// SMSSubmissions keeps the SMS the API accepted.
type SMSSubmissions interface {
	// AddSMS stores s unless an SMS with its id exists; it returns the SMS
	// stored under the id and whether this call created it.
	AddSMS(ctx context.Context, s sms.SMS) (stored sms.SMS, created bool, err error)
	// RemoveUnsentSMS deletes the SMS id if no attempt to send it was made:
	// what a submission whose command never reached the bus leaves behind.
	RemoveUnsentSMS(ctx context.Context, id string) error
}

// SubmitSendSMS is a client's request to send an SMS. IdempotencyKey, when
// set, names the SMS: submitting the same key again returns the first SMS
// instead of sending another.
type SubmitSendSMS struct {
	IdempotencyKey string
	Number         string
	Text           string
}

// SMSSubmission is what the client is told at once.
type SMSSubmission struct {
	ID     string
	Number string
	Text   string
	Status sms.Status
}

// SubmitSendSMSHandler validates an SMS, stores it as queued, records its
// SendSMS in the command log (the SMS id is the command id) and sends it on
// the command bus.
type SubmitSendSMSHandler decorator.SubmissionHandler[SubmitSendSMS, SMSSubmission]

type submitSendSMSHandler struct {
	submissions SMSSubmissions
	commands    CommandLog
	bus         CommandBus
	now         func() time.Time
	// outcomes is set when the bus delivers before Send returns.
	outcomes SMSOutcomes
}

// NewSubmitSendSMSHandler builds the handler; now may be nil for the wall clock.
func NewSubmitSendSMSHandler(submissions SMSSubmissions, commands CommandLog, bus CommandBus, now func() time.Time, logger *slog.Logger, opts ...SubmitOption) SubmitSendSMSHandler {
	if submissions == nil {
		panic("nil submissions")
	}
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
	return decorator.ApplySubmissionDecorators[SubmitSendSMS, SMSSubmission](
		submitSendSMSHandler{submissions: submissions, commands: commands, bus: bus, now: now, outcomes: applySubmitOptions(opts).sms},
		logger,
	)
}

func (h submitSendSMSHandler) Handle(ctx context.Context, req SubmitSendSMS) (SMSSubmission, error) {
	number, err := sms.ParseNumber(req.Number)
	if err != nil {
		return SMSSubmission{}, apperr.InvalidField("number", "%s", err.Error())
	}
	text, err := sms.ParseText(req.Text)
	if err != nil {
		return SMSSubmission{}, apperr.InvalidField("text", "%s", err.Error())
	}

	id := sms.IDForIdempotencyKey(clientScopedKey(ctx, req.IdempotencyKey))
	if req.IdempotencyKey == "" {
		if id, err = newCommandID(); err != nil {
			return SMSSubmission{}, err
		}
	}
	now := h.now().UTC()
	queued, err := sms.New(id, number, text, now)
	if err != nil {
		return SMSSubmission{}, err
	}

	cmd := SendSMS{CommandID: id, RequestedAt: now}
	request := requestFingerprint(cmd, queued.Number, queued.Text)
	// Only the command this call recorded is forgotten: one under the same
	// id of another type is another client's.
	var commandCreated bool
	var settled func(context.Context, sms.SMS) (sms.SMS, bool)
	if h.outcomes != nil {
		settled = func(ctx context.Context, stored sms.SMS) (sms.SMS, bool) {
			status, err := h.outcomes.SMSStatus(ctx, id)
			if err != nil {
				return stored, false
			}
			stored.Status = status
			return stored, true
		}
	}
	stored, err := submission[sms.SMS]{
		what: "the SMS",
		record: func(ctx context.Context) (sms.SMS, bool, error) {
			return h.submissions.AddSMS(ctx, queued)
		},
		command: func(stored sms.SMS) (any, error) {
			if stored.Number != queued.Number || stored.Text != queued.Text {
				return nil, errKeyReused()
			}
			if stored.Status.IsFinal() {
				return nil, nil
			}
			// An SMS already queued is sent again: if its first command was
			// lost the handler gets this one, and if not the handler finds the
			// SMS under way or done and sends nothing.
			return cmd, nil
		},
		// A command recorded by an earlier submission of the SMS stays as it is.
		keep: func(ctx context.Context, cmd any) (sent bool, err error) {
			accepted, err := h.commands.Accept(ctx, id, now, cmd, request)
			if err != nil {
				return false, err
			}
			commandCreated = accepted.Created
			return accepted.Sent, refuseReusedKey(accepted, request)
		},
		forget: func(ctx context.Context) error {
			err := h.submissions.RemoveUnsentSMS(ctx, id)
			if commandCreated {
				err = errors.Join(err, h.commands.Forget(ctx, id))
			}
			return err
		},
		settled: settled,
	}.submit(ctx, h.bus)
	if err != nil {
		return SMSSubmission{}, err
	}
	return SMSSubmission{ID: stored.ID, Number: stored.Number, Text: stored.Text, Status: stored.Status}, nil
}
