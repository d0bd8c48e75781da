package sms

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Status is where an SMS is in its life: queued until an attempt to send it
// succeeds (sent) or the service gives up on it (failed). Sent and failed are
// final.
type Status string

const (
	StatusQueued Status = "queued"
	StatusSent   Status = "sent"
	StatusFailed Status = "failed"
)

// ParseStatus accepts the names used on the wire and in storage.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusQueued, StatusSent, StatusFailed:
		return st, nil
	default:
		return "", fmt.Errorf("unknown SMS status %q", s)
	}
}

// IsFinal reports whether nothing can happen to an SMS in this status any more.
func (s Status) IsFinal() bool { return s == StatusSent || s == StatusFailed }

// MaxProviderMessageIDLength is the longest provider message id kept, in bytes.
const MaxProviderMessageIDLength = 255

// ErrFinal is returned when a final SMS is asked to change.
var ErrFinal = errors.New("the SMS is already sent or failed")

// idNamespace scopes the name-based ids of SMS submitted with an idempotency key.
var idNamespace = uuid.MustParse("8f7a3c52-1e94-4b6d-a0c7-59d2e81b3f06")

// IDForIdempotencyKey is the id of the SMS a client submits with key: the same
// key always names the same SMS, so a retried submission finds the first one.
func IDForIdempotencyKey(key string) string {
	return uuid.NewSHA1(idNamespace, []byte(key)).String()
}

// SMS is one text message a client asked to send, and what became of it.
type SMS struct {
	ID     string
	Number string // E.164
	Text   string
	Status Status
	// Attempts counts the calls to the provider started so far, including one
	// whose outcome was never learnt because its worker died.
	Attempts          int
	ProviderMessageID string
	// Error is why the SMS failed or, while it is queued, why the last attempt failed.
	Error string
	// SendingUntil is zero unless an attempt is under way: until then, another
	// delivery of the same command waits instead of calling the provider too.
	// Past it, the attempt is taken for lost (its worker died) and may be
	// made again.
	SendingUntil time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// New is a queued SMS, not yet attempted.
func New(id string, number Number, text Text, at time.Time) (SMS, error) {
	if id == "" {
		return SMS{}, errors.New("SMS id is empty")
	}
	if number.IsZero() || text.IsZero() {
		return SMS{}, errors.New("SMS number or text was not parsed")
	}
	at = at.UTC()
	return SMS{ID: id, Number: number.String(), Text: text.String(), Status: StatusQueued, CreatedAt: at, UpdatedAt: at}, nil
}

// SendInProgress reports whether an attempt started by another delivery may
// still be waiting for the provider's answer at now.
func (s SMS) SendInProgress(now time.Time) bool {
	return !s.SendingUntil.IsZero() && now.Before(s.SendingUntil)
}

// AttemptsExhausted reports whether every one of maxAttempts was made.
func (s SMS) AttemptsExhausted(maxAttempts int) bool { return s.Attempts >= maxAttempts }

// StartAttempt counts one more attempt, which may last until now+timeout. It
// is recorded before the provider is called, so that a worker dying in the
// call still uses the attempt up.
func (s *SMS) StartAttempt(now time.Time, timeout time.Duration) error {
	if s.Status.IsFinal() {
		return ErrFinal
	}
	if s.SendInProgress(now) {
		return errors.New("another attempt to send the SMS is under way")
	}
	s.Attempts++
	s.SendingUntil = now.UTC().Add(timeout)
	s.UpdatedAt = now.UTC()
	return nil
}

// AttemptFailed records that the attempt under way failed but may be retried.
func (s *SMS) AttemptFailed(reason string, now time.Time) error {
	if s.Status.IsFinal() {
		return ErrFinal
	}
	s.SendingUntil = time.Time{}
	s.Error = reason
	s.UpdatedAt = now.UTC()
	return nil
}

// MarkSent records that the provider accepted the SMS.
func (s *SMS) MarkSent(providerMessageID string, now time.Time) (SMSSent, error) {
	if s.Status.IsFinal() {
		return SMSSent{}, ErrFinal
	}
	if err := ValidateProviderMessageID(providerMessageID); err != nil {
		return SMSSent{}, err
	}
	s.Status = StatusSent
	s.ProviderMessageID = providerMessageID
	s.SendingUntil = time.Time{}
	s.Error = ""
	s.UpdatedAt = now.UTC()
	return SMSSent{SMSID: s.ID, Number: s.Number, ProviderMessageID: providerMessageID, Attempts: s.Attempts, OccurredAt: s.UpdatedAt}, nil
}

// ValidateProviderMessageID checks an id a provider gave for an SMS.
func ValidateProviderMessageID(id string) error {
	switch {
	case id == "":
		return errors.New("the SMS provider answered without a message id")
	case len(id) > MaxProviderMessageIDLength:
		return fmt.Errorf("the SMS provider answered with a message id longer than %d bytes", MaxProviderMessageIDLength)
	}
	return nil
}

// MarkFailed records that the SMS will never be sent, and why.
func (s *SMS) MarkFailed(reason string, now time.Time) (SMSFailed, error) {
	if s.Status.IsFinal() {
		return SMSFailed{}, ErrFinal
	}
	s.Status = StatusFailed
	s.SendingUntil = time.Time{}
	s.Error = reason
	s.UpdatedAt = now.UTC()
	return SMSFailed{SMSID: s.ID, Number: s.Number, Reason: reason, Attempts: s.Attempts, OccurredAt: s.UpdatedAt}, nil
}

// GiveUp fails the SMS once its attempts are exhausted, giving the last
// attempt's failure as the reason. An attempt still marked as under way was
// interrupted: the provider may have sent that one, which the reason says.
func (s *SMS) GiveUp(now time.Time) (SMSFailed, error) {
	last := s.Error
	switch {
	case !s.SendingUntil.IsZero():
		last = "the last attempt was interrupted before the provider answered"
	case last == "":
		last = "no attempt succeeded"
	}
	plural := "s"
	if s.Attempts == 1 {
		plural = ""
	}
	return s.MarkFailed(fmt.Sprintf("gave up after %d attempt%s: %s", s.Attempts, plural, last), now)
}
