package query

import (
	"context"
	"log/slog"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/sms"
)

// SMSStatus asks what became of an SMS.
type SMSStatus struct {
	SMSID string
}

// SMSReport is what became of an SMS: queued, sent (ProviderMessageID says
// under which id) or failed (Error says why; while queued, Error is why the
// last attempt failed).
type SMSReport struct {
	SMSID             string
	Status            sms.Status
	Attempts          int
	ProviderMessageID string
	Error             string
}

// SMSReadModel reads the status of SMS.
type SMSReadModel interface {
	// SMSReport returns the report of id, or an apperr.NotFound error.
	SMSReport(ctx context.Context, id string) (SMSReport, error)
}

// SMSStatusHandler answers SMSStatus. It reads the store directly: the status
// changes with every attempt, so a cached answer would be stale at once.
type SMSStatusHandler decorator.QueryHandler[SMSStatus, SMSReport]

type smsStatusHandler struct {
	messages SMSReadModel
}

func NewSMSStatusHandler(messages SMSReadModel, logger *slog.Logger) SMSStatusHandler {
	if messages == nil {
		panic("nil messages")
	}
	if logger == nil {
		panic("nil logger")
	}
	return decorator.ApplyQueryDecorators[SMSStatus, SMSReport](smsStatusHandler{messages: messages}, logger)
}

func (h smsStatusHandler) Handle(ctx context.Context, q SMSStatus) (SMSReport, error) {
	if q.SMSID == "" {
		return SMSReport{}, apperr.InvalidField("id", "SMS id is empty")
	}
	return h.messages.SMSReport(ctx, q.SMSID)
}
