package sms_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/domain/sms"
)

var (
	t0      = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600))
	timeout = 10 * time.Second
)

func newSMS(t *testing.T) sms.SMS {
	t.Helper()
	number, err := sms.ParseNumber("+541112345678")
	if err != nil {
		t.Fatal(err)
	}
	text, err := sms.ParseText("Your code is 1234")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sms.New("sms-1", number, text, t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSMSIsQueued(t *testing.T) {
	t.Parallel()
	s := newSMS(t)
	if s.Status != sms.StatusQueued || s.Attempts != 0 || s.Number != "+541112345678" || s.Text != "Your code is 1234" {
		t.Fatalf("New = %+v", s)
	}
	if s.CreatedAt.Location() != time.UTC || !s.CreatedAt.Equal(t0) {
		t.Fatalf("times are not kept in UTC: %v", s.CreatedAt)
	}
	if _, err := sms.New("", sms.Number{}, sms.Text{}, t0); err == nil {
		t.Fatal("New accepted an SMS without id, number or text")
	}
}

func TestAttemptThenSent(t *testing.T) {
	t.Parallel()
	s := newSMS(t)

	if err := s.StartAttempt(t0, timeout); err != nil {
		t.Fatal(err)
	}
	if s.Attempts != 1 || !s.SendInProgress(t0.Add(timeout-time.Millisecond)) || s.SendInProgress(t0.Add(timeout)) {
		t.Fatalf("after StartAttempt: %+v", s)
	}
	if err := s.StartAttempt(t0.Add(time.Second), timeout); err == nil {
		t.Fatal("a second attempt started while the first is under way")
	}

	sent, err := s.MarkSent("provider-42", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != sms.StatusSent || s.ProviderMessageID != "provider-42" || s.SendInProgress(t0) {
		t.Fatalf("after MarkSent: %+v", s)
	}
	if sent.SMSID != s.ID || sent.ProviderMessageID != "provider-42" || sent.Attempts != 1 || !sent.OccurredAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("SMSSent = %+v", sent)
	}

	// A final SMS does not change any more.
	if err := s.StartAttempt(t0.Add(time.Minute), timeout); !errors.Is(err, sms.ErrFinal) {
		t.Fatalf("StartAttempt on a sent SMS: %v", err)
	}
	if _, err := s.MarkSent("other", t0); !errors.Is(err, sms.ErrFinal) {
		t.Fatalf("MarkSent twice: %v", err)
	}
	if _, err := s.MarkFailed("late", t0); !errors.Is(err, sms.ErrFinal) {
		t.Fatalf("MarkFailed on a sent SMS: %v", err)
	}
}

func TestMarkSentNeedsAProviderMessageID(t *testing.T) {
	t.Parallel()
	s := newSMS(t)
	_ = s.StartAttempt(t0, timeout)
	if _, err := s.MarkSent("", t0); err == nil || s.Status != sms.StatusQueued {
		t.Fatalf("MarkSent without an id: %v, %+v", err, s)
	}
}

func TestTransientFailuresThenGiveUp(t *testing.T) {
	t.Parallel()
	const maxAttempts = 3
	s := newSMS(t)
	now := t0
	for i := 1; i <= maxAttempts; i++ {
		if s.AttemptsExhausted(maxAttempts) {
			t.Fatalf("exhausted after %d attempts", s.Attempts)
		}
		if err := s.StartAttempt(now, timeout); err != nil {
			t.Fatal(err)
		}
		if err := s.AttemptFailed("provider answered 503", now); err != nil {
			t.Fatal(err)
		}
		if s.SendInProgress(now) || s.Status != sms.StatusQueued || s.Error != "provider answered 503" {
			t.Fatalf("after failed attempt %d: %+v", i, s)
		}
		now = now.Add(time.Second)
	}
	if !s.AttemptsExhausted(maxAttempts) {
		t.Fatal("not exhausted after every attempt")
	}
	failed, err := s.GiveUp(now)
	if err != nil {
		t.Fatal(err)
	}
	if want := "gave up after 3 attempts: provider answered 503"; s.Status != sms.StatusFailed || s.Error != want || failed.Reason != want || failed.Attempts != 3 {
		t.Fatalf("after GiveUp: %+v, %+v", s, failed)
	}
}

func TestGiveUpAfterAnInterruptedAttempt(t *testing.T) {
	t.Parallel()
	s := newSMS(t)
	_ = s.StartAttempt(t0, timeout)
	// The worker died in the call: the attempt is still marked as under way,
	// and once it has timed out a new delivery may give up on it.
	later := t0.Add(2 * timeout)
	if s.SendInProgress(later) {
		t.Fatal("an attempt outlived its timeout")
	}
	failed, err := s.GiveUp(later)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(failed.Reason, "gave up after 1 attempt: ") || !strings.Contains(failed.Reason, "interrupted") {
		t.Fatalf("reason = %q", failed.Reason)
	}
}

func TestMarkFailedAtOnce(t *testing.T) {
	t.Parallel()
	s := newSMS(t)
	_ = s.StartAttempt(t0, timeout)
	failed, err := s.MarkFailed("rejected by the provider: unknown number", t0)
	if err != nil || s.Status != sms.StatusFailed || failed.Reason != s.Error || s.SendInProgress(t0) {
		t.Fatalf("MarkFailed = %+v, %v; sms %+v", failed, err, s)
	}
}

func TestStatusAndIDs(t *testing.T) {
	t.Parallel()
	for _, st := range []sms.Status{sms.StatusQueued, sms.StatusSent, sms.StatusFailed} {
		if got, err := sms.ParseStatus(string(st)); err != nil || got != st {
			t.Errorf("ParseStatus(%q) = %q, %v", st, got, err)
		}
	}
	if _, err := sms.ParseStatus("delivered"); err == nil {
		t.Error("ParseStatus accepted an unknown status")
	}
	if sms.StatusQueued.IsFinal() || !sms.StatusSent.IsFinal() || !sms.StatusFailed.IsFinal() {
		t.Error("IsFinal is wrong")
	}
	first, again := sms.IDForIdempotencyKey("order-42"), sms.IDForIdempotencyKey("order-42")
	if first != again || sms.IDForIdempotencyKey("a") == sms.IDForIdempotencyKey("b") {
		t.Error("ids of idempotency keys are not stable and distinct")
	}
}
