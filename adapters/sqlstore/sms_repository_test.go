package sqlstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/smsprovider"
	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/sms"
	"github.com/techradar/techradar/internal/testenv"
)

// smsStore is a store with the SMS repository on it.
type smsStore = storeUnderTest

func newSMSStores(t *testing.T) map[string]smsStore {
	t.Helper()
	stores := map[string]smsStore{}
	for name, store := range openSQLStores(t) {
		stores[name] = newStoreUnderTest(t, store)
	}
	return stores
}

func TestSMSStore(t *testing.T) {
	t.Parallel()
	for name, store := range newSMSStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("add and report", func(t *testing.T) { t.Parallel(); testAddAndReportSMS(t, store) })
			t.Run("an id is added once", func(t *testing.T) { t.Parallel(); testAddSMSOnce(t, store) })
			t.Run("what is stored comes back", func(t *testing.T) { t.Parallel(); testSMSRoundTrip(t, store) })
			t.Run("only an unsent SMS is removed", func(t *testing.T) { t.Parallel(); testRemoveUnsentSMS(t, store) })
			t.Run("a failed update changes nothing", func(t *testing.T) { t.Parallel(); testFailedSMSUpdateRollsBack(t, store) })
			t.Run("a final SMS closes its command", func(t *testing.T) { t.Parallel(); testFinalSMSClosesCommand(t, store) })
			t.Run("unknown SMS", func(t *testing.T) { t.Parallel(); testUnknownSMS(t, store) })
			t.Run("a failed command fails its SMS", func(t *testing.T) { t.Parallel(); testFailedCommandFailsSMS(t, store) })
		})
	}
}

// The send tests count events in the outbox: each needs a store of its own.
func TestSMSStoreSendOnce(t *testing.T) {
	t.Parallel()
	for name, store := range newSMSStores(t) {
		t.Run(name, func(t *testing.T) { t.Parallel(); testConcurrentSendSMS(t, store) })
	}
}

func TestSMSStoreSendOutcomes(t *testing.T) {
	t.Parallel()
	for name, store := range newSMSStores(t) {
		t.Run(name, func(t *testing.T) { t.Parallel(); testSendSMSOutcomes(t, store) })
	}
}

func newQueuedSMS(t *testing.T, text string) sms.SMS {
	t.Helper()
	number, err := sms.ParseNumber("+541112345678")
	if err != nil {
		t.Fatal(err)
	}
	body, err := sms.ParseText(text)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sms.New(testenv.UniqueName("sms-"), number, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func addSMS(t *testing.T, store smsStore, s sms.SMS) {
	t.Helper()
	if _, created, err := store.AddSMS(context.Background(), s); err != nil || !created {
		t.Fatalf("AddSMS = %v, %v", created, err)
	}
}

func testAddAndReportSMS(t *testing.T, store smsStore) {
	ctx := context.Background()
	s := newQueuedSMS(t, "hello")
	stored, created, err := store.AddSMS(ctx, s)
	if err != nil || !created || stored.ID != s.ID {
		t.Fatalf("AddSMS = %+v, %v, %v", stored, created, err)
	}
	report, err := store.SMSReport(ctx, s.ID)
	if err != nil || report.SMSID != s.ID || report.Status != sms.StatusQueued || report.Attempts != 0 || report.ProviderMessageID != "" || report.Error != "" {
		t.Fatalf("report = %+v, %v", report, err)
	}

	// The same id again is the first SMS, whatever the second one says.
	other := s
	other.Text = "another text"
	stored, created, err = store.AddSMS(ctx, other)
	if err != nil || created || stored.Text != "hello" {
		t.Fatalf("second AddSMS = %+v, %v, %v", stored, created, err)
	}
}

func testAddSMSOnce(t *testing.T, store smsStore) {
	s := newQueuedSMS(t, "once")
	const submitters = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for range submitters {
		wg.Go(func() {
			_, c, err := store.AddSMS(context.Background(), s)
			if err != nil {
				t.Error(err)
				return
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d concurrent submissions of one id created %d SMS", submitters, created)
	}
}

func testSMSRoundTrip(t *testing.T, store smsStore) {
	ctx := context.Background()
	s := newQueuedSMS(t, strings.Repeat("😀", sms.MaxTextLength-2)+"\n\t")
	addSMS(t, store, s)

	providerID := strings.Repeat("p", sms.MaxProviderMessageIDLength)
	var until time.Time
	_, err := store.UpdateSMS(ctx, s.ID, func(_ context.Context, got *sms.SMS, _ command.EventPublisher) (bool, error) {
		if got.Text != s.Text || got.Number != s.Number || got.CreatedAt.Sub(s.CreatedAt).Abs() > time.Microsecond {
			t.Errorf("loaded %+v, stored %+v", got, s)
		}
		if err := got.StartAttempt(time.Now(), time.Minute); err != nil {
			return false, err
		}
		until = got.SendingUntil
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.UpdateSMS(ctx, s.ID, func(_ context.Context, got *sms.SMS, events command.EventPublisher) (bool, error) {
		if got.Attempts != 1 || got.SendingUntil.Sub(until).Abs() > time.Microsecond || got.SendingUntil.Location() != time.UTC {
			t.Errorf("the attempt came back as %d, %v; stored %v", got.Attempts, got.SendingUntil, until)
		}
		sent, err := got.MarkSent(providerID, time.Now())
		if err != nil {
			return false, err
		}
		return true, events.Publish(context.Background(), sent)
	})
	if err != nil {
		t.Fatal(err)
	}
	report, err := store.SMSReport(ctx, s.ID)
	if err != nil || report.Status != sms.StatusSent || report.ProviderMessageID != providerID || report.Attempts != 1 {
		t.Fatalf("report = %+v, %v", report, err)
	}
}

func testRemoveUnsentSMS(t *testing.T, store smsStore) {
	ctx := context.Background()
	unsent := newQueuedSMS(t, "never sent")
	addSMS(t, store, unsent)
	if err := store.RemoveUnsentSMS(ctx, unsent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SMSReport(ctx, unsent.ID); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("a removed SMS: %v", err)
	}

	attempted := newQueuedSMS(t, "attempted")
	addSMS(t, store, attempted)
	if _, err := store.UpdateSMS(ctx, attempted.ID, func(_ context.Context, s *sms.SMS, _ command.EventPublisher) (bool, error) {
		return true, s.StartAttempt(time.Now(), time.Minute)
	}); err != nil {
		t.Fatal(err)
	}
	if err := store.RemoveUnsentSMS(ctx, attempted.ID); err != nil {
		t.Fatal(err)
	}
	if report, err := store.SMSReport(ctx, attempted.ID); err != nil || report.Attempts != 1 {
		t.Fatalf("an SMS that may have been sent was removed: %+v, %v", report, err)
	}
}

func testFailedSMSUpdateRollsBack(t *testing.T, store smsStore) {
	ctx := context.Background()
	s := newQueuedSMS(t, "rollback")
	addSMS(t, store, s)
	boom := errors.New("boom")
	_, err := store.UpdateSMS(ctx, s.ID, func(ctx context.Context, got *sms.SMS, events command.EventPublisher) (bool, error) {
		_ = got.StartAttempt(time.Now(), time.Minute)
		failed, _ := got.MarkFailed("no", time.Now())
		if err := events.Publish(ctx, failed); err != nil {
			return false, err
		}
		return true, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if report, err := store.SMSReport(ctx, s.ID); err != nil || report.Status != sms.StatusQueued || report.Attempts != 0 {
		t.Fatalf("a failed update was kept: %+v, %v", report, err)
	}
	if _, err := store.CommandReport(ctx, s.ID); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("a failed update recorded its command: %v", err)
	}

	// An update may not change what the SMS is.
	_, err = store.UpdateSMS(ctx, s.ID, func(_ context.Context, got *sms.SMS, _ command.EventPublisher) (bool, error) {
		got.Text = "forged"
		return true, nil
	})
	if err == nil {
		t.Fatal("an update changed the text")
	}
}

func testFinalSMSClosesCommand(t *testing.T, store smsStore) {
	ctx := context.Background()
	s := newQueuedSMS(t, "final")
	addSMS(t, store, s)
	fail := func(_ context.Context, got *sms.SMS, events command.EventPublisher) (bool, error) {
		failed, err := got.MarkFailed("rejected by the SMS provider: no such number", time.Now())
		if err != nil {
			return false, err
		}
		return true, events.Publish(ctx, failed)
	}
	if applied, err := store.UpdateSMS(ctx, s.ID, fail); err != nil || !applied {
		t.Fatalf("UpdateSMS = %v, %v", applied, err)
	}
	called := false
	applied, err := store.UpdateSMS(ctx, s.ID, func(context.Context, *sms.SMS, command.EventPublisher) (bool, error) {
		called = true
		return false, nil
	})
	if err != nil || applied || called {
		t.Fatalf("an update after the command was processed: applied %v, called %v, %v", applied, called, err)
	}
	if report, err := store.CommandReport(ctx, s.ID); err != nil || report.Status != string(command.StatusProcessed) || report.TechID != "" {
		t.Fatalf("command report = %+v, %v", report, err)
	}
	if report, err := store.SMSReport(ctx, s.ID); err != nil || report.Status != sms.StatusFailed || !strings.Contains(report.Error, "no such number") {
		t.Fatalf("report = %+v, %v", report, err)
	}
}

// testFailedCommandFailsSMS poisons an SMS's command, as the poison recorder
// does: the SMS is reported failed with the reason, not queued forever.
func testFailedCommandFailsSMS(t *testing.T, store smsStore) {
	ctx := context.Background()
	s := newQueuedSMS(t, "poisoned")
	if _, _, err := store.AddSMS(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkFailed(ctx, s.ID, "undecodable message"); err != nil {
		t.Fatal(err)
	}
	report, err := store.SMSReport(ctx, s.ID)
	if err != nil || report.Status != sms.StatusFailed || !strings.Contains(report.Error, "undecodable message") {
		t.Fatalf("report = %+v, %v", report, err)
	}
}

func testUnknownSMS(t *testing.T, store smsStore) {
	ctx := context.Background()
	if _, err := store.SMSReport(ctx, "no-such-sms"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("SMSReport: %v", err)
	}
	_, err := store.UpdateSMS(ctx, "no-such-sms", func(context.Context, *sms.SMS, command.EventPublisher) (bool, error) {
		t.Error("update called for an unknown SMS")
		return false, nil
	})
	if apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("UpdateSMS: %v", err)
	}
}

func newSendSMSHandler(t *testing.T, store smsStore, provider command.SMSProvider, maxAttempts int) command.SendSMSHandler {
	t.Helper()
	return command.NewSendSMSHandler(store, provider, command.SendSMSConfig{MaxAttempts: maxAttempts, AttemptTimeout: 5 * time.Second}, nil, slog.New(slog.DiscardHandler))
}

// relayedEvents relays the store's outbox and returns the topics of the events
// it held, by SMS id.
func relayedEvents(t *testing.T, store smsStore, want int) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	publisher := &recordingPublisher{}
	done := make(chan error, 1)
	go func() {
		done <- store.RelayOutbox(ctx, publisher, sqlstore.OutboxRelayConfig{PollInterval: 10 * time.Millisecond}, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for publisher.count() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // anything beyond want shows too
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	byID := map[string][]string{}
	for _, m := range publisher.messages() {
		payload := string(m.msg.Payload)
		start := strings.Index(payload, `"smsId":"`) + len(`"smsId":"`)
		end := start + strings.IndexByte(payload[start:], '"')
		byID[payload[start:end]] = append(byID[payload[start:end]], m.topic)
	}
	return byID
}

func testConcurrentSendSMS(t *testing.T, store smsStore) {
	// Slow enough that the deliveries overlap the attempt under way.
	provider, err := smsprovider.NewFake(smsprovider.FakeConfig{Latency: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	handler := newSendSMSHandler(t, store, provider, 5)
	s := newQueuedSMS(t, "concurrent")
	addSMS(t, store, s)

	const deliveries = 16
	var wg sync.WaitGroup
	for range deliveries {
		wg.Go(func() {
			if err := handler.Handle(context.Background(), command.SendSMS{CommandID: s.ID}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	report, err := store.SMSReport(context.Background(), s.ID)
	if err != nil || report.Status != sms.StatusSent || report.Attempts != 1 {
		t.Fatalf("report = %+v, %v", report, err)
	}
	if provider.Calls() != 1 || provider.SentCount() != 1 {
		t.Fatalf("%d deliveries called the provider %d times, sent %d SMS", deliveries, provider.Calls(), provider.SentCount())
	}
	if events := relayedEvents(t, store, 1); len(events[s.ID]) != 1 || events[s.ID][0] != "events.SMSSent" {
		t.Fatalf("events = %v", events)
	}
}

// failingProvider fails each number its own way.
type failingProvider struct {
	mu       sync.Mutex
	failures map[string]int // transient failures left, by number
	reject   map[string]bool
	fake     *smsprovider.Fake
}

func (p *failingProvider) Send(ctx context.Context, msg command.OutgoingSMS) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reject[msg.Number] {
		return "", command.ErrSMSRejected
	}
	if p.failures[msg.Number] > 0 {
		p.failures[msg.Number]--
		return "", errors.New("provider answered 503")
	}
	return p.fake.Send(ctx, msg)
}

func testSendSMSOutcomes(t *testing.T, store smsStore) {
	ctx := context.Background()
	fake, _ := smsprovider.NewFake(smsprovider.FakeConfig{})
	provider := &failingProvider{
		failures: map[string]int{"+5411000000002": 2, "+5411000000003": 100},
		reject:   map[string]bool{"+5411000000004": true},
		fake:     fake,
	}
	handler := newSendSMSHandler(t, store, provider, 3)
	ids := map[string]string{}
	for _, number := range []string{"+5411000000001", "+5411000000002", "+5411000000003", "+5411000000004"} {
		n, _ := sms.ParseNumber(number)
		text, _ := sms.ParseText("outcome")
		s, _ := sms.New(testenv.UniqueName("sms-"), n, text, time.Now())
		addSMS(t, store, s)
		ids[number] = s.ID
		// What the router does: deliver again while the handler asks for a retry.
		for delivery := 1; ; delivery++ {
			err := handler.Handle(ctx, command.SendSMS{CommandID: s.ID})
			if err == nil {
				break
			}
			if apperr.CodeOf(err) != apperr.Unavailable || delivery > 3 {
				t.Fatalf("%s, delivery %d: %v", number, delivery, err)
			}
		}
	}

	want := map[string]struct {
		status   sms.Status
		attempts int
		topic    string
	}{
		"+5411000000001": {sms.StatusSent, 1, "events.SMSSent"},
		"+5411000000002": {sms.StatusSent, 3, "events.SMSSent"},
		"+5411000000003": {sms.StatusFailed, 3, "events.SMSFailed"},
		"+5411000000004": {sms.StatusFailed, 1, "events.SMSFailed"},
	}
	events := relayedEvents(t, store, len(want))
	for number, w := range want {
		report, err := store.SMSReport(ctx, ids[number])
		if err != nil || report.Status != w.status || report.Attempts != w.attempts {
			t.Errorf("%s: report %+v, %v; want %s after %d attempts", number, report, err, w.status, w.attempts)
		}
		if got := events[ids[number]]; len(got) != 1 || got[0] != w.topic {
			t.Errorf("%s: events %v, want one %s", number, got, w.topic)
		}
	}
	if report, _ := store.SMSReport(ctx, ids["+5411000000003"]); report.Error != "gave up after 3 attempts: provider answered 503" {
		t.Errorf("reason = %q", report.Error)
	}
}
