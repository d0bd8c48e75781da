package smsprovider_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/smsprovider"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/testenv"
)

// providerUnderTest is one SMS provider and a way to count what it sent.
type providerUnderTest struct {
	provider command.SMSProvider
	// sent reports whether an SMS went out under key.
	sent func(key string) bool
	// sentCount is how many distinct SMS went out.
	sentCount func() int
}

// newProviders builds every implementation; failing ones fail every call
// transiently.
func newProviders(t *testing.T, failing bool) map[string]providerUnderTest {
	t.Helper()
	rate := 0.0
	if failing {
		rate = 1
	}
	fake, err := smsprovider.NewFake(smsprovider.FakeConfig{FailureRate: rate})
	if err != nil {
		t.Fatal(err)
	}

	server := testenv.NewSMSProvider(t, func(testenv.SMSProviderRequest) int {
		if failing {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	httpProvider, err := smsprovider.NewHTTP(smsprovider.HTTPConfig{URL: server.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	return map[string]providerUnderTest{
		"fake": {provider: fake, sentCount: fake.SentCount, sent: func(key string) bool {
			_, ok := fake.Sent(key)
			return ok
		}},
		"http": {provider: httpProvider, sentCount: server.SentCount, sent: func(key string) bool {
			_, ok := server.Sent(key)
			return ok
		}},
	}
}

func outgoing(key string) command.OutgoingSMS {
	return command.OutgoingSMS{IdempotencyKey: key, Number: "+541112345678", Text: "Your code is 1234 ✓"}
}

func TestSMSProvider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, p providerUnderTest)
	}{
		{"sends and answers with a message id", testProviderSends},
		{"one key sends once", testProviderKeySendsOnce},
		{"concurrent calls with one key send once", testProviderConcurrentKey},
		{"a cancelled call fails transiently", testProviderCancelled},
		{"no idempotency key, no send", testProviderNeedsKey},
	}
	for _, name := range []string{"fake", "http"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.run(t, newProviders(t, false)[name])
				})
			}
			t.Run("a failing provider fails transiently", func(t *testing.T) {
				t.Parallel()
				testProviderFailing(t, newProviders(t, true)[name])
			})
		})
	}
}

func testProviderFailing(t *testing.T, p providerUnderTest) {
	key := testenv.UniqueName("sms-")
	_, err := p.provider.Send(context.Background(), outgoing(key))
	if err == nil || errors.Is(err, command.ErrSMSRejected) {
		t.Fatalf("err = %v, want a transient failure", err)
	}
	if p.sent(key) || p.sentCount() != 0 {
		t.Fatal("a failed call sent the SMS")
	}
}

func testProviderSends(t *testing.T, p providerUnderTest) {
	key := testenv.UniqueName("sms-")
	id, err := p.provider.Send(context.Background(), outgoing(key))
	if err != nil || id == "" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if !p.sent(key) || p.sentCount() != 1 {
		t.Fatal("the provider did not send it once")
	}
	other, err := p.provider.Send(context.Background(), outgoing(testenv.UniqueName("sms-")))
	if err != nil || other == id {
		t.Fatalf("another key got %q, %v; the first got %q", other, err, id)
	}
}

func testProviderKeySendsOnce(t *testing.T, p providerUnderTest) {
	key := testenv.UniqueName("sms-")
	first, err := p.provider.Send(context.Background(), outgoing(key))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := p.provider.Send(context.Background(), outgoing(key))
		if err != nil || again != first {
			t.Fatalf("the same key again = %q, %v; want %q", again, err, first)
		}
	}
	if n := p.sentCount(); n != 1 {
		t.Fatalf("one key sent %d SMS", n)
	}
}

func testProviderConcurrentKey(t *testing.T, p providerUnderTest) {
	key := testenv.UniqueName("sms-")
	const callers = 16
	ids := make(chan string, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			id, err := p.provider.Send(context.Background(), outgoing(key))
			if err != nil {
				t.Error(err)
			}
			ids <- id
		})
	}
	wg.Wait()
	close(ids)
	first := <-ids
	for id := range ids {
		if id != first {
			t.Fatalf("one key got ids %q and %q", first, id)
		}
	}
	if n := p.sentCount(); n != 1 {
		t.Fatalf("one key sent %d SMS", n)
	}
}

func testProviderCancelled(t *testing.T, p providerUnderTest) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	key := testenv.UniqueName("sms-")
	_, err := p.provider.Send(ctx, outgoing(key))
	if err == nil || errors.Is(err, command.ErrSMSRejected) {
		t.Fatalf("err = %v, want a transient failure", err)
	}
	if p.sent(key) || p.sentCount() != 0 {
		t.Fatal("a cancelled call sent the SMS")
	}
}

func testProviderNeedsKey(t *testing.T, p providerUnderTest) {
	if _, err := p.provider.Send(context.Background(), outgoing("")); err == nil {
		t.Fatal("an SMS without an idempotency key was accepted")
	}
	if p.sentCount() != 0 {
		t.Fatal("an SMS without an idempotency key was sent")
	}
}

func TestSMSHTTPProviderRequest(t *testing.T) {
	t.Parallel()
	server := testenv.NewSMSProvider(t, nil)
	provider, err := smsprovider.NewHTTP(smsprovider.HTTPConfig{URL: server.URL, Timeout: 5 * time.Second, Authorization: "Bearer s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	msg := outgoing("sms-42")
	msg.Text = "line one\nline two 😀"
	id, err := provider.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	got := server.LastRequest()
	if got.Key != "sms-42" || got.Authorization != "Bearer s3cret" || got.Number != msg.Number || got.Text != msg.Text {
		t.Fatalf("the provider got %+v", got)
	}
	if sent, _ := server.Sent("sms-42"); sent.ID != id {
		t.Fatalf("id %q, the provider says %q", id, sent.ID)
	}
}

func TestSMSHTTPProviderAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   int
		rejected bool
	}{
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusGatewayTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusRequestTimeout, false},
		{http.StatusConflict, false},
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusForbidden, true},
		{http.StatusNotFound, true},
		{http.StatusUnprocessableEntity, true},
		{http.StatusFound, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			server := testenv.NewSMSProvider(t, func(testenv.SMSProviderRequest) int { return tt.status })
			provider, err := smsprovider.NewHTTP(smsprovider.HTTPConfig{URL: server.URL, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = provider.Send(context.Background(), outgoing("k"))
			if err == nil || errors.Is(err, command.ErrSMSRejected) != tt.rejected || !strings.Contains(err.Error(), fmt.Sprint(tt.status)) {
				t.Fatalf("err = %v, want rejected %v and the status", err, tt.rejected)
			}
		})
	}
}

func TestSMSHTTPProviderRetryAfterFailureSendsOnce(t *testing.T) {
	t.Parallel()
	server := testenv.NewSMSProvider(t, func(r testenv.SMSProviderRequest) int {
		if r.Attempt < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	provider, err := smsprovider.NewHTTP(smsprovider.HTTPConfig{URL: server.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err := provider.Send(context.Background(), outgoing("k")); err == nil {
			t.Fatalf("attempt %d succeeded", attempt)
		}
	}
	if id, err := provider.Send(context.Background(), outgoing("k")); err != nil || id == "" {
		t.Fatalf("third attempt = %q, %v", id, err)
	}
	if server.Requests("k") != 3 || server.SentCount() != 1 {
		t.Fatalf("%d requests, %d sent", server.Requests("k"), server.SentCount())
	}
}

func TestSMSHTTPProviderTransportFailures(t *testing.T) {
	t.Parallel()

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		server := testenv.NewSMSProvider(t, nil)
		server.SetLatency(2 * time.Second)
		provider, err := smsprovider.NewHTTP(smsprovider.HTTPConfig{URL: server.URL, Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = provider.Send(context.Background(), outgoing("k"))
		if err == nil || errors.Is(err, command.ErrSMSRejected) || !strings.Contains(err.Error(), "in time") {
			t.Fatalf("err = %v", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Fatalf("a 100ms timeout took %s", elapsed)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := listener.Addr().String()
		_ = listener.Close()
		provider, err := smsprovider.NewHTTP(smsprovider.HTTPConfig{URL: "http://" + addr + "/send?token=secret", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = provider.Send(context.Background(), outgoing("k"))
		if err == nil || errors.Is(err, command.ErrSMSRejected) || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("the error shows the URL: %v", err)
		}
	})

	t.Run("answer without an id", func(t *testing.T) {
		t.Parallel()
		server := testenv.NewSMSProvider(t, func(testenv.SMSProviderRequest) int { return http.StatusNoContent })
		provider, err := smsprovider.NewHTTP(smsprovider.HTTPConfig{URL: server.URL, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = provider.Send(context.Background(), outgoing("k"))
		if err == nil || errors.Is(err, command.ErrSMSRejected) {
			t.Fatalf("err = %v, want a transient failure", err)
		}
	})
}

func TestSMSHTTPProviderConfig(t *testing.T) {
	t.Parallel()
	for _, config := range []smsprovider.HTTPConfig{
		{URL: "", Timeout: time.Second},
		{URL: "localhost:8080/send", Timeout: time.Second},
		{URL: "ftp://example.com/send", Timeout: time.Second},
		{URL: "http:///send", Timeout: time.Second},
		{URL: "http://example.com/send", Timeout: 0},
		{URL: "http://example.com/send", Timeout: time.Second, Authorization: "Bearer x\r\nX-Injected: 1"},
	} {
		if _, err := smsprovider.NewHTTP(config); err == nil {
			t.Errorf("%+v was accepted", config)
		}
	}
}

func TestSMSFakeProviderFailureRate(t *testing.T) {
	t.Parallel()
	fake, err := smsprovider.NewFake(smsprovider.FakeConfig{FailureRate: 0.5, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	const keys = 200
	failures := 0
	for i := range keys {
		key := fmt.Sprint("k", i)
		for {
			if _, err := fake.Send(context.Background(), outgoing(key)); err == nil {
				break
			} else if errors.Is(err, command.ErrSMSRejected) {
				t.Fatalf("a simulated failure is a rejection: %v", err)
			}
			failures++
		}
	}
	// Half of all calls fail: about as many failures as keys.
	if failures < keys/2 || failures > keys*2 {
		t.Fatalf("%d failures for %d keys at a rate of 0.5", failures, keys)
	}
	if fake.SentCount() != keys || fake.Calls() != keys+failures {
		t.Fatalf("sent %d, calls %d", fake.SentCount(), fake.Calls())
	}
}

func TestSMSFakeProviderLatency(t *testing.T) {
	t.Parallel()
	fake, err := smsprovider.NewFake(smsprovider.FakeConfig{Latency: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := fake.Send(context.Background(), outgoing("slow")); err != nil || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("Send took %s: %v", time.Since(start), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	slow, _ := smsprovider.NewFake(smsprovider.FakeConfig{Latency: time.Hour})
	if _, err := slow.Send(ctx, outgoing("k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if _, sent := slow.Sent("k"); sent {
		t.Fatal("an abandoned call sent the SMS")
	}
}

func TestSMSFakeProviderConfig(t *testing.T) {
	t.Parallel()
	for _, config := range []smsprovider.FakeConfig{{FailureRate: -0.1}, {FailureRate: 1.5}, {FailureRate: math.NaN()}, {Latency: -time.Second}} {
		if _, err := smsprovider.NewFake(config); err == nil {
			t.Errorf("%+v was accepted", config)
		}
	}
}
