package command_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/sms"
)

// memorySMSStore is the SMS repository's contract in a map: one lock stands
// for the row lock, and events are kept only when an update succeeds.
type memorySMSStore struct {
	mu        sync.Mutex
	messages  map[string]sms.SMS
	processed map[string]bool
	events    []any
}

func newMemorySMSStore() *memorySMSStore {
	return &memorySMSStore{messages: map[string]sms.SMS{}, processed: map[string]bool{}}
}

func (m *memorySMSStore) AddSMS(_ context.Context, s sms.SMS) (sms.SMS, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if stored, ok := m.messages[s.ID]; ok {
		return stored, false, nil
	}
	m.messages[s.ID] = s
	return s, true, nil
}

func (m *memorySMSStore) RemoveUnsentSMS(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.messages[id]; ok && s.Status == sms.StatusQueued && s.Attempts == 0 {
		delete(m.messages, id)
	}
	return nil
}

type eventList struct{ events []any }

func (l *eventList) Publish(_ context.Context, event any) error {
	l.events = append(l.events, event)
	return nil
}

func (m *memorySMSStore) UpdateSMS(ctx context.Context, id string, update command.SMSUpdate) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.processed[id] {
		return false, nil
	}
	s, ok := m.messages[id]
	if !ok {
		return false, apperr.NotFoundf("no SMS %s", id)
	}
	var published eventList
	changed, err := update(ctx, &s, &published)
	if err != nil || !changed {
		return true, err
	}
	m.messages[id] = s
	m.events = append(m.events, published.events...)
	m.processed[id] = s.Status.IsFinal()
	return true, nil
}

func (m *memorySMSStore) get(t *testing.T, id string) sms.SMS {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.messages[id]
	if !ok {
		t.Fatalf("no SMS %s", id)
	}
	return s
}

func (m *memorySMSStore) put(s sms.SMS) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.messages[s.ID] = s
}

func (m *memorySMSStore) eventsOf(id string) []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []any
	for _, e := range m.events {
		switch e := e.(type) {
		case sms.SMSSent:
			if e.SMSID == id {
				out = append(out, e)
			}
		case sms.SMSFailed:
			if e.SMSID == id {
				out = append(out, e)
			}
		}
	}
	return out
}

// scriptedProvider answers with its errors in turn, then succeeds. release,
// when set, holds every call until it is closed.
type scriptedProvider struct {
	mu      sync.Mutex
	errs    []error
	calls   []command.OutgoingSMS
	noID    bool
	release chan struct{}
}

func (p *scriptedProvider) Send(ctx context.Context, msg command.OutgoingSMS) (string, error) {
	p.mu.Lock()
	p.calls = append(p.calls, msg)
	var err error
	if len(p.errs) > 0 {
		err, p.errs = p.errs[0], p.errs[1:]
	}
	release, noID := p.release, p.noID
	p.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if err != nil {
		return "", err
	}
	if noID {
		return "", nil
	}
	return "provider-" + msg.IdempotencyKey, nil
}

func (p *scriptedProvider) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

var discardLogger = slog.New(slog.DiscardHandler)

func queuedSMS(t *testing.T, store *memorySMSStore) sms.SMS {
	t.Helper()
	number, _ := sms.ParseNumber("+541112345678")
	text, _ := sms.ParseText("hello")
	s, err := sms.New(fmt.Sprintf("sms-%p", t), number, text, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	store.put(s)
	return s
}

func newSendSMS(store *memorySMSStore, provider command.SMSProvider, maxAttempts int) command.SendSMSHandler {
	return command.NewSendSMSHandler(store, provider, command.SendSMSConfig{MaxAttempts: maxAttempts, AttemptTimeout: 2 * time.Second}, nil, discardLogger)
}

func TestSendSMSSendsOnce(t *testing.T) {
	t.Parallel()
	store, provider := newMemorySMSStore(), &scriptedProvider{}
	s := queuedSMS(t, store)
	handler := newSendSMS(store, provider, 5)

	for range 3 { // the first delivery and two redeliveries
		if err := handler.Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err != nil {
			t.Fatal(err)
		}
	}
	got := store.get(t, s.ID)
	if got.Status != sms.StatusSent || got.Attempts != 1 || got.ProviderMessageID != "provider-"+s.ID || got.SendInProgress(time.Now()) {
		t.Fatalf("sms = %+v", got)
	}
	if provider.callCount() != 1 || provider.calls[0] != (command.OutgoingSMS{IdempotencyKey: s.ID, Number: s.Number, Text: s.Text}) {
		t.Fatalf("provider calls = %+v", provider.calls)
	}
	if events := store.eventsOf(s.ID); len(events) != 1 || events[0].(sms.SMSSent).ProviderMessageID != got.ProviderMessageID {
		t.Fatalf("events = %+v", events)
	}
}

func TestSendSMSRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	store := newMemorySMSStore()
	provider := &scriptedProvider{errs: []error{errors.New("provider answered 503"), errors.New("connection refused")}}
	s := queuedSMS(t, store)
	handler := newSendSMS(store, provider, 5)

	for attempt, wantErr := range []string{"provider answered 503", "connection refused"} {
		err := handler.Handle(context.Background(), command.SendSMS{CommandID: s.ID})
		if apperr.CodeOf(err) != apperr.Unavailable || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("attempt %d: err = %v, want a retry", attempt+1, err)
		}
		got := store.get(t, s.ID)
		if got.Status != sms.StatusQueued || got.Attempts != attempt+1 || got.Error != wantErr || got.SendInProgress(time.Now()) {
			t.Fatalf("after attempt %d: %+v", attempt+1, got)
		}
	}
	if err := handler.Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err != nil {
		t.Fatal(err)
	}
	if got := store.get(t, s.ID); got.Status != sms.StatusSent || got.Attempts != 3 || got.Error != "" {
		t.Fatalf("after the third attempt: %+v", got)
	}
}

func TestSendSMSGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	store := newMemorySMSStore()
	down := errors.New("provider answered 503")
	provider := &scriptedProvider{errs: []error{down, down, down, down}}
	s := queuedSMS(t, store)
	handler := newSendSMS(store, provider, 3)

	for range 2 {
		if err := handler.Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err == nil {
			t.Fatal("a transient failure with attempts left was acked")
		}
	}
	// The last attempt fails too: the handler gives up and acks.
	if err := handler.Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err != nil {
		t.Fatalf("the last attempt: %v", err)
	}
	got := store.get(t, s.ID)
	if want := "gave up after 3 attempts: provider answered 503"; got.Status != sms.StatusFailed || got.Attempts != 3 || got.Error != want {
		t.Fatalf("sms = %+v", got)
	}
	events := store.eventsOf(s.ID)
	if len(events) != 1 || events[0].(sms.SMSFailed).Reason != got.Error || events[0].(sms.SMSFailed).Attempts != 3 {
		t.Fatalf("events = %+v", events)
	}
	if err := handler.Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err != nil || provider.callCount() != 3 {
		t.Fatalf("a redelivery after giving up: %v, %d calls", err, provider.callCount())
	}
}

func TestSendSMSRejectedFailsAtOnce(t *testing.T) {
	t.Parallel()
	store := newMemorySMSStore()
	provider := &scriptedProvider{errs: []error{fmt.Errorf("%w: HTTP 400: unknown number", command.ErrSMSRejected)}}
	s := queuedSMS(t, store)

	if err := newSendSMS(store, provider, 5).Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err != nil {
		t.Fatal(err)
	}
	got := store.get(t, s.ID)
	if got.Status != sms.StatusFailed || got.Attempts != 1 || !strings.Contains(got.Error, "unknown number") {
		t.Fatalf("sms = %+v", got)
	}
	if len(store.eventsOf(s.ID)) != 1 {
		t.Fatal("no SMSFailed event")
	}
}

func TestSendSMSWithoutProviderMessageIDIsRetried(t *testing.T) {
	t.Parallel()
	store := newMemorySMSStore()
	s := queuedSMS(t, store)
	err := newSendSMS(store, &scriptedProvider{noID: true}, 5).Handle(context.Background(), command.SendSMS{CommandID: s.ID})
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v", err)
	}
	if got := store.get(t, s.ID); got.Status != sms.StatusQueued || got.Attempts != 1 {
		t.Fatalf("sms = %+v", got)
	}
}

func TestSendSMSUnknownOrInvalid(t *testing.T) {
	t.Parallel()
	provider := &scriptedProvider{}
	handler := newSendSMS(newMemorySMSStore(), provider, 5)
	if err := handler.Handle(context.Background(), command.SendSMS{CommandID: "removed-by-the-api"}); err != nil {
		t.Fatalf("unknown SMS: %v", err)
	}
	if err := handler.Handle(context.Background(), command.SendSMS{}); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("no id: %v", err)
	}
	if provider.callCount() != 0 {
		t.Fatal("the provider was called")
	}
}

func TestSendSMSConcurrentDeliveriesCallTheProviderOnce(t *testing.T) {
	t.Parallel()
	store := newMemorySMSStore()
	provider := &scriptedProvider{release: make(chan struct{})}
	s := queuedSMS(t, store)
	handler := newSendSMS(store, provider, 5)

	const deliveries = 8
	errs := make(chan error, deliveries)
	var wg sync.WaitGroup
	for range deliveries {
		wg.Go(func() { errs <- handler.Handle(context.Background(), command.SendSMS{CommandID: s.ID}) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for provider.callCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others reach their wait
	close(provider.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := store.get(t, s.ID); provider.callCount() != 1 || got.Status != sms.StatusSent || got.Attempts != 1 {
		t.Fatalf("%d provider calls; sms = %+v", provider.callCount(), got)
	}
}

func TestSendSMSTakesOverAnInterruptedAttempt(t *testing.T) {
	t.Parallel()
	store, provider := newMemorySMSStore(), &scriptedProvider{}
	s := queuedSMS(t, store)
	// A worker started an attempt an hour ago and died in it.
	_ = s.StartAttempt(time.Now().Add(-time.Hour), time.Second)
	store.put(s)

	if err := newSendSMS(store, provider, 5).Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err != nil {
		t.Fatal(err)
	}
	got := store.get(t, s.ID)
	if got.Status != sms.StatusSent || got.Attempts != 2 || provider.calls[0].IdempotencyKey != s.ID {
		t.Fatalf("sms = %+v, calls %+v", got, provider.calls)
	}
}

func TestSendSMSGivesUpWhenTheLastAttemptWasInterrupted(t *testing.T) {
	t.Parallel()
	store, provider := newMemorySMSStore(), &scriptedProvider{}
	s := queuedSMS(t, store)
	_ = s.StartAttempt(time.Now().Add(-time.Hour), time.Second)
	store.put(s)

	if err := newSendSMS(store, provider, 1).Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err != nil {
		t.Fatal(err)
	}
	got := store.get(t, s.ID)
	if got.Status != sms.StatusFailed || !strings.Contains(got.Error, "interrupted") || provider.callCount() != 0 {
		t.Fatalf("sms = %+v, %d calls", got, provider.callCount())
	}
}

func TestSubmitSendSMS(t *testing.T) {
	t.Parallel()
	store, log, bus := newMemorySMSStore(), newMemoryCommandLog(), &recordingBus{}
	submit := command.NewSubmitSendSMSHandler(store, log, bus, nil, discardLogger)

	got, err := submit.Handle(context.Background(), command.SubmitSendSMS{Number: "+541112345678", Text: "hello"})
	if err != nil || got.ID == "" || got.Status != sms.StatusQueued || got.Number != "+541112345678" || got.Text != "hello" {
		t.Fatalf("submission = %+v, %v", got, err)
	}
	if stored := store.get(t, got.ID); stored.Status != sms.StatusQueued || stored.Attempts != 0 {
		t.Fatalf("stored = %+v", stored)
	}
	sent := bus.sent[0].(command.SendSMS)
	if sent.CommandID != got.ID || sent.RequestedAt.IsZero() {
		t.Fatalf("sent %+v", sent)
	}
	// The SMS id is its command's: the log keeps the SendSMS, pending, to send it
	// again if the transport loses it.
	if log.statuses[got.ID] != command.StatusPending || log.kept[got.ID] != sent {
		t.Fatalf("command log: %q, kept %+v", log.statuses[got.ID], log.kept[got.ID])
	}
}

// A command log that sends each command as it records it leaves the SMS
// submission nothing to send.
func TestSubmitSendSMSSentByTheLog(t *testing.T) {
	t.Parallel()
	store, log, bus := newMemorySMSStore(), newMemoryCommandLog(), &recordingBus{}
	log.sends = true
	submit := command.NewSubmitSendSMSHandler(store, log, bus, nil, discardLogger)

	got, err := submit.Handle(context.Background(), command.SubmitSendSMS{Number: "+541112345678", Text: "hello"})
	if err != nil || got.Status != sms.StatusQueued {
		t.Fatalf("submission = %+v, %v", got, err)
	}
	if len(bus.sent) != 0 || log.statuses[got.ID] != command.StatusPending {
		t.Fatalf("%d sent on the bus, log %q; want none sent, the command pending", len(bus.sent), log.statuses[got.ID])
	}
}

func TestSubmitSendSMSIdempotencyKey(t *testing.T) {
	t.Parallel()
	store, bus := newMemorySMSStore(), &recordingBus{}
	submit := command.NewSubmitSendSMSHandler(store, newMemoryCommandLog(), bus, nil, discardLogger)
	req := command.SubmitSendSMS{IdempotencyKey: "order-42", Number: "+541112345678", Text: "shipped"}

	first, err := submit.Handle(context.Background(), req)
	if err != nil || first.ID != sms.IDForIdempotencyKey("order-42") {
		t.Fatalf("first = %+v, %v", first, err)
	}
	// While queued, a retry sends the command again, in case the first was lost.
	if again, err := submit.Handle(context.Background(), req); err != nil || again != first || len(bus.sent) != 2 {
		t.Fatalf("retry = %+v, %v; %d sent", again, err, len(bus.sent))
	}

	s := store.get(t, first.ID)
	_ = s.StartAttempt(time.Now(), time.Second)
	_, _ = s.MarkSent("p-1", time.Now())
	store.put(s)
	if done, err := submit.Handle(context.Background(), req); err != nil || done.Status != sms.StatusSent || len(bus.sent) != 2 {
		t.Fatalf("retry once sent = %+v, %v; %d sent", done, err, len(bus.sent))
	}

	other := req
	other.Text = "cancelled"
	if _, err := submit.Handle(context.Background(), other); apperr.CodeOf(err) != apperr.IdempotencyKeyReused {
		t.Fatalf("the key of another SMS: %v", err)
	}
}

// A key of another route family whose id collides with an SMS's names
// another command: it is refused, and the SMS's command stays.
func TestSubmitKeyOfAnotherCommandType(t *testing.T) {
	t.Parallel()
	store, log, bus := newMemorySMSStore(), newMemoryCommandLog(), &recordingBus{}
	sendSMS := command.NewSubmitSendSMSHandler(store, log, bus, nil, discardLogger)
	createTech := command.NewSubmitCreateTechHandler(log, bus, nil, discardLogger)

	queued, err := sendSMS.Handle(context.Background(), command.SubmitSendSMS{IdempotencyKey: "k", Number: "+541112345678", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createTech.Handle(context.Background(), command.SubmitCreateTech{CommandID: queued.ID, Name: "Go"}); apperr.CodeOf(err) != apperr.IdempotencyKeyReused {
		t.Fatalf("a tech under the SMS's id: %v", err)
	}

	// The other way round: the SMS's id is a tech command's already.
	tech, err := createTech.Handle(context.Background(), command.SubmitCreateTech{CommandID: sms.IDForIdempotencyKey("t"), Name: "Go"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sendSMS.Handle(context.Background(), command.SubmitSendSMS{IdempotencyKey: "t", Number: "+541112345678", Text: "hi"}); apperr.CodeOf(err) != apperr.IdempotencyKeyReused {
		t.Fatalf("an SMS under a tech command's id: %v", err)
	}
	if log.statuses[tech.CommandID] != command.StatusPending || len(store.messages) != 1 || len(bus.sent) != 2 {
		t.Fatalf("the refused SMS changed the log (%q) or was kept (%d) or sent (%d)", log.statuses[tech.CommandID], len(store.messages), len(bus.sent))
	}
}

func TestSubmitSendSMSRejectsBadInput(t *testing.T) {
	t.Parallel()
	store, bus := newMemorySMSStore(), &recordingBus{}
	submit := command.NewSubmitSendSMSHandler(store, newMemoryCommandLog(), bus, nil, discardLogger)
	tests := []struct {
		number, text, field string
	}{
		{"", "hi", "number"},
		{"541112345678", "hi", "number"},
		{"+0541112345", "hi", "number"},
		{"+541112345678", "", "text"},
		{"+541112345678", "   ", "text"},
		{"+541112345678", strings.Repeat("x", sms.MaxTextLength+1), "text"},
		{"+541112345678", "a\x00b", "text"},
	}
	for _, tt := range tests {
		_, err := submit.Handle(context.Background(), command.SubmitSendSMS{Number: tt.number, Text: tt.text})
		if e, ok := apperr.As(err); !ok || e.Code != apperr.Invalid || e.Field != tt.field {
			t.Errorf("%q, %.20q: %v, want invalid %s", tt.number, tt.text, err, tt.field)
		}
	}
	if len(bus.sent) != 0 || len(store.messages) != 0 {
		t.Fatal("an invalid SMS was stored or sent")
	}
}

func TestSubmitSendSMSBusDown(t *testing.T) {
	t.Parallel()
	store, log := newMemorySMSStore(), newMemoryCommandLog()
	submit := command.NewSubmitSendSMSHandler(store, log, &recordingBus{err: errors.New("broker down")}, nil, discardLogger)

	_, err := submit.Handle(context.Background(), command.SubmitSendSMS{IdempotencyKey: "k", Number: "+541112345678", Text: "hi"})
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if len(store.messages) != 0 {
		t.Fatal("an SMS whose command never reached the bus stayed queued")
	}
	if len(log.statuses) != 0 {
		t.Fatalf("a command that never reached the bus stayed in the log: %v", log.statuses)
	}
}

func TestSubmitSendSMSCommandLogDown(t *testing.T) {
	t.Parallel()
	store, log, bus := newMemorySMSStore(), newMemoryCommandLog(), &recordingBus{}
	log.err = errors.New("database down")
	submit := command.NewSubmitSendSMSHandler(store, log, bus, nil, discardLogger)

	_, err := submit.Handle(context.Background(), command.SubmitSendSMS{IdempotencyKey: "k", Number: "+541112345678", Text: "hi"})
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if len(store.messages) != 0 || len(bus.sent) != 0 {
		t.Fatalf("an SMS whose command could not be recorded: %d stored, %d sent", len(store.messages), len(bus.sent))
	}
}

func TestSendSMSSeesAnAttemptThroughAShutdown(t *testing.T) {
	t.Parallel()
	store, provider := newMemorySMSStore(), &scriptedProvider{}
	s := queuedSMS(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the worker is stopping as the message arrives

	if err := newSendSMS(store, provider, 5).Handle(ctx, command.SendSMS{CommandID: s.ID}); err != nil {
		t.Fatal(err)
	}
	if got := store.get(t, s.ID); got.Status != sms.StatusSent || provider.callCount() != 1 {
		t.Fatalf("sms = %+v, %d calls", got, provider.callCount())
	}
}
