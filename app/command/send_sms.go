package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/sms"
)

// SendSMS asks for an SMS to be sent. It carries the SMS's id only: the number
// and text were stored with the SMS before the command was sent. Its type name
// is its name on the wire: renaming it is a breaking change.
type SendSMS struct {
	// CommandID is the id of the SMS, and the command's own: an SMS has one
	// SendSMS, however often it is delivered. Under the name every command
	// gives its id, the poison recorder finds it.
	CommandID   string    `json:"commandId"`
	RequestedAt time.Time `json:"requestedAt"`
}

// SendSMSHandler applies SendSMS commands.
type SendSMSHandler decorator.CommandHandler[SendSMS]

// OutgoingSMS is what an SMS provider is asked to send.
type OutgoingSMS struct {
	// IdempotencyKey is the same on every attempt to send one SMS, so that the
	// provider sends it once however often it is asked.
	IdempotencyKey string
	Number         string
	Text           string
}

// ErrSMSRejected is wrapped by the errors of providers that refused an SMS for
// good (a bad number, a text they will not carry): retrying cannot help.
var ErrSMSRejected = errors.New("rejected by the SMS provider")

// SMSProvider sends SMS.
type SMSProvider interface {
	// Send sends msg and returns the provider's id of the message. Asked again
	// with the same idempotency key, it must not send a second message and
	// should return the first one's id. An error wrapping ErrSMSRejected is a
	// refusal for good; any other error may go away on a retry.
	Send(ctx context.Context, msg OutgoingSMS) (providerMessageID string, err error)
}

// SMSUpdate changes s, publishes the events that say what changed, and reports
// whether it changed anything.
type SMSUpdate func(ctx context.Context, s *sms.SMS, events EventPublisher) (changed bool, err error)

// SMSRepository stores SMS together with the commands that change them.
type SMSRepository interface {
	// UpdateSMS runs update on the SMS id for the SendSMS command of the same id
	// and, in one transaction, stores the SMS it leaves, keeps the events it
	// published and, once the SMS is sent or failed, records the command as
	// processed. If the command was processed before, update is not called and
	// applied is false. An SMS that does not exist is an apperr.NotFound error.
	UpdateSMS(ctx context.Context, id string, update SMSUpdate) (applied bool, err error)
}

// SendSMSConfig is how hard the handler tries.
type SendSMSConfig struct {
	// MaxAttempts is how many calls to the provider one SMS gets in all.
	MaxAttempts int
	// AttemptTimeout bounds one call to the provider.
	AttemptTimeout time.Duration
}

const (
	// attemptLeaseMargin is how much longer than its timeout an attempt is taken
	// to be under way: time to record its outcome, and room for the clocks of
	// different workers to disagree.
	attemptLeaseMargin = 5 * time.Second
	// recordTimeout bounds recording the outcome of an attempt.
	recordTimeout = 10 * time.Second
	// The pauses of a delivery waiting for another one's attempt to end.
	busyPollMin = 20 * time.Millisecond
	busyPollMax = 500 * time.Millisecond
)

type sendSMSHandler struct {
	messages SMSRepository
	provider SMSProvider
	config   SendSMSConfig
	now      func() time.Time
	logger   *slog.Logger
}

// NewSendSMSHandler builds the handler; now may be nil for the wall clock.
func NewSendSMSHandler(messages SMSRepository, provider SMSProvider, config SendSMSConfig, now func() time.Time, logger *slog.Logger) SendSMSHandler {
	if messages == nil {
		panic("nil messages")
	}
	if provider == nil {
		panic("nil provider")
	}
	if config.MaxAttempts < 1 {
		panic(fmt.Sprintf("SMS max attempts must be at least 1, got %d", config.MaxAttempts))
	}
	if config.AttemptTimeout <= 0 {
		panic(fmt.Sprintf("SMS attempt timeout must be positive, got %s", config.AttemptTimeout))
	}
	if logger == nil {
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	return decorator.ApplyCommandDecorators[SendSMS](
		sendSMSHandler{messages: messages, provider: provider, config: config, now: now, logger: logger},
		logger,
	)
}

// Handle makes at most one attempt to send the SMS. Every attempt is counted
// in the SMS's record before the provider is called and its outcome recorded
// after, so that how many were made survives redeliveries and dead workers,
// and the decision to try again or give up is taken from that count: an error
// is returned only when the attempt failed and another one is due, which is
// what makes the message router retry.
//
// An SMS goes out once: a delivery that finds it sent does nothing, one that
// finds another delivery's attempt under way waits for its outcome, and the
// provider gets the SMS id as the idempotency key of every attempt, which
// covers a worker that died after the provider sent the SMS but before the
// record said so.
func (h sendSMSHandler) Handle(ctx context.Context, cmd SendSMS) error {
	id := cmd.CommandID
	if id == "" {
		// Without an id there is nothing to send or report on.
		return apperr.InvalidField("commandId", "command id is empty")
	}
	// An attempt is seen through even when ctx ends (a shutdown stops the
	// worker): cut short, it would use an attempt up and leave the provider's
	// answer unknown. Each step is bounded by a timeout of its own instead.
	work := context.WithoutCancel(ctx)
	outgoing, attempt, err := h.startAttempt(ctx, work, id)
	if err != nil || !attempt {
		return err
	}

	callCtx, cancel := context.WithTimeout(work, h.config.AttemptTimeout)
	providerMessageID, sendErr := h.provider.Send(callCtx, outgoing)
	cancel()
	if sendErr == nil {
		// An id that cannot be stored is a failed attempt: the next one asks
		// again under the same key.
		sendErr = sms.ValidateProviderMessageID(providerMessageID)
	}
	return h.recordOutcome(work, id, providerMessageID, sendErr)
}

// startAttempt records the next attempt and returns what to send, unless the
// SMS needs no attempt: it is sent or failed, it does not exist, or its
// attempts are used up, and then it is failed here. It stores through work;
// only waiting for another delivery's attempt ends with ctx.
func (h sendSMSHandler) startAttempt(ctx, work context.Context, id string) (OutgoingSMS, bool, error) {
	pause := busyPollMin
	for {
		var (
			outgoing  OutgoingSMS
			attempt   bool
			busyUntil time.Time
		)
		storeCtx, cancel := context.WithTimeout(work, recordTimeout)
		applied, err := h.messages.UpdateSMS(storeCtx, id, func(ctx context.Context, s *sms.SMS, events EventPublisher) (bool, error) {
			now := h.now()
			switch {
			case s.Status.IsFinal():
				return false, nil
			case s.SendInProgress(now):
				busyUntil = s.SendingUntil
				return false, nil
			case s.AttemptsExhausted(h.config.MaxAttempts):
				// The last attempt's worker died before recording its outcome.
				failed, err := s.GiveUp(now)
				if err != nil {
					return false, err
				}
				return true, events.Publish(ctx, failed)
			}
			if err := s.StartAttempt(now, h.config.AttemptTimeout+attemptLeaseMargin); err != nil {
				return false, err
			}
			outgoing, attempt = OutgoingSMS{IdempotencyKey: s.ID, Number: s.Number, Text: s.Text}, true
			return true, nil
		})
		cancel()
		switch {
		case apperr.CodeOf(err) == apperr.NotFound:
			// The API removes the SMS of a command it failed to send and tells
			// the client so: such a command, delivered after all, sends nothing.
			h.logger.WarnContext(ctx, "SendSMS for an unknown SMS, skipped", slog.String("sms_id", id))
			return OutgoingSMS{}, false, nil
		case err != nil:
			return OutgoingSMS{}, false, fmt.Errorf("starting an attempt to send SMS %s: %w", id, err)
		case !applied:
			h.logger.InfoContext(ctx, "command already applied, skipped", slog.String("sms_id", id))
			return OutgoingSMS{}, false, nil
		case attempt:
			return outgoing, true, nil
		case busyUntil.IsZero():
			return OutgoingSMS{}, false, nil
		}

		// Another delivery of the command is calling the provider. Calling it
		// alongside would lean on the provider's idempotency alone, and acking
		// would lose the SMS if that delivery's worker dies: wait for its
		// outcome, or for its time to be up and take over.
		wait := min(pause, max(busyUntil.Sub(h.now()), time.Millisecond))
		select {
		case <-ctx.Done():
			return OutgoingSMS{}, false, ctx.Err()
		case <-time.After(wait):
		}
		pause = min(2*pause, busyPollMax)
	}
}

// recordOutcome stores what came of the attempt and publishes SMSSent or
// SMSFailed when the SMS is done. It returns an error when the attempt failed
// and another one is due.
func (h sendSMSHandler) recordOutcome(work context.Context, id, providerMessageID string, sendErr error) error {
	recordCtx, cancel := context.WithTimeout(work, recordTimeout)
	defer cancel()

	var (
		retry    bool
		attempts int
	)
	_, err := h.messages.UpdateSMS(recordCtx, id, func(ctx context.Context, s *sms.SMS, events EventPublisher) (bool, error) {
		now := h.now()
		if s.Status.IsFinal() {
			// Another delivery finished it: this attempt outlived its time.
			return false, nil
		}
		attempts = s.Attempts
		switch {
		case sendErr == nil:
			sent, err := s.MarkSent(providerMessageID, now)
			if err != nil {
				return false, err
			}
			return true, events.Publish(ctx, sent)
		case errors.Is(sendErr, ErrSMSRejected):
			failed, err := s.MarkFailed(sendErr.Error(), now)
			if err != nil {
				return false, err
			}
			return true, events.Publish(ctx, failed)
		}
		if err := s.AttemptFailed(sendErr.Error(), now); err != nil {
			return false, err
		}
		if s.AttemptsExhausted(h.config.MaxAttempts) {
			failed, err := s.GiveUp(now)
			if err != nil {
				return false, err
			}
			return true, events.Publish(ctx, failed)
		}
		retry = true
		return true, nil
	})
	if err != nil {
		// The attempt stays marked as under way: the retry waits for its time
		// to be up, then asks the provider again under the same key.
		return fmt.Errorf("recording the outcome of sending SMS %s (%v): %w", id, sendErr, err)
	}
	if retry {
		return apperr.Unavailablef(sendErr, "sending SMS %s failed on attempt %d of %d, to be retried", id, attempts, h.config.MaxAttempts)
	}
	return nil
}
