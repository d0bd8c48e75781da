package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/limit"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/access"
	"github.com/techradar/techradar/ports/httpapi"
)

// downLimiter is a shared limiter whose store is down.
type downLimiter struct{}

func (downLimiter) Take(context.Context, string) (limit.Decision, error) {
	return limit.Decision{}, errors.New("connection refused")
}

// TestLimiterDownFallsBackToTheProcess: while the shared limiters cannot
// decide, the process's own limiters count, with the same answers.
func TestLimiterDownFallsBackToTheProcess(t *testing.T) {
	t.Parallel()
	h := accessHandler(t, httpapi.AccessControl{
		Requests: downLimiter{}, RequestsFallback: memoryLimiter(t, limit.Rate{Count: 3, Period: time.Hour}),
		SMSPerNumber: downLimiter{}, SMSPerNumberFallback: memoryLimiter(t, limit.Rate{Count: 1, Period: time.Hour}),
	})
	sms := call{method: http.MethodPost, path: "/api/sms", peer: "192.0.2.1:1", body: `{"number": "+541112345678", "text": "hi"}`}
	if rec := serve(h, postTech("192.0.2.1:1")); rec.Code != http.StatusAccepted || rec.Header().Get("RateLimit-Limit") != "3" {
		t.Fatalf("first request: %d %v", rec.Code, rec.Header())
	}
	if rec := serve(h, sms); rec.Code != http.StatusAccepted {
		t.Fatalf("first SMS: %d %s", rec.Code, rec.Body)
	}
	rec := serve(h, sms)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("second SMS to the number with the shared limiter down: %d %s, want 429", rec.Code, rec.Body)
	}
	if code, field := errorOf(t, rec); code != "rate_limited" || field != "number" {
		t.Errorf("second SMS: %s on %q", code, field)
	}
	rec = serve(h, postTech("192.0.2.1:1"))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || rec.Header().Get("RateLimit-Remaining") != "0" {
		t.Fatalf("fourth request with the shared limiter down: %d %v, want 429 with the headers", rec.Code, rec.Header())
	}
}

// keyTable authenticates the keys it maps to their principals.
type keyTable map[string]access.Principal

func (k keyTable) Handle(_ context.Context, q query.AuthenticateAPIKey) (access.Principal, error) {
	if p, ok := k[q.Key]; ok {
		return p, nil
	}
	return access.Principal{}, query.ErrUnauthenticated
}

// TestRefusedKeysCountAgainstTheAddress: each 401 spends the client
// address's budget, and once it is spent the answer is 429, so that trying
// keys is as limited as any other request.
func TestRefusedKeysCountAgainstTheAddress(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	keys := keyTable{"good": {KeyName: "good", Scopes: access.Scopes}}
	h := httpapi.NewHTTPHandler(app.Application{Commands: app.Commands{
		SubmitCreateTech: command.NewSubmitCreateTechHandler(acceptAll{}, nullBus{}, nil, logger),
	}}, nil, logger,
		httpapi.WithAccessControl(httpapi.AccessControl{Requests: memoryLimiter(t, limit.Rate{Count: 2, Period: time.Hour})}),
		httpapi.WithAPIKeys(keys, false))
	withKey := func(key string) call {
		c := postTech("192.0.2.1:1")
		c.header = map[string]string{"X-API-Key": key}
		return c
	}

	for i := range 2 {
		rec := serve(h, withKey("wrong"))
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("RateLimit-Remaining") != []string{"1", "0"}[i] {
			t.Fatalf("wrong key %d: %d %v, want 401 counted", i+1, rec.Code, rec.Header())
		}
	}
	rec := serve(h, withKey("wrong"))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("third wrong key: %d %v, want 429", rec.Code, rec.Header())
	}
	if code, _ := errorOf(t, rec); code != "rate_limited" {
		t.Errorf("third wrong key: code %q", code)
	}
	if rec := serve(h, postTech("192.0.2.1:1")); rec.Code != http.StatusTooManyRequests {
		t.Errorf("no key from the same address: %d, want 429", rec.Code)
	}
	// A valid key spends its own budget, not its address's.
	if rec := serve(h, withKey("good")); rec.Code != http.StatusAccepted {
		t.Errorf("a valid key from the address: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(h, withKey("wrong")); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a wrong key again from the spent address: %d, want 429", rec.Code)
	}
	if rec := serve(h, call{method: http.MethodPost, path: "/api/techs", body: `{"name": "Kafka"}`, peer: "192.0.2.2:1",
		header: map[string]string{"X-API-Key": "wrong"}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("a wrong key from another address: %d, want 401 on a budget of its own", rec.Code)
	}
}
