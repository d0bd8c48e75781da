package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/sms"
	"github.com/techradar/techradar/ports/httpapi"
)

// newSubmissions stores nothing and takes every SMS as new.
type newSubmissions struct{}

func (newSubmissions) AddSMS(_ context.Context, s sms.SMS) (sms.SMS, bool, error) {
	return s, true, nil
}
func (newSubmissions) RemoveUnsentSMS(context.Context, string) error { return nil }

// FuzzSendSMSRequest sends arbitrary bodies and idempotency keys to both SMS
// routes: every answer must be a success or a 4xx with the JSON error shape,
// never a panic or a 5xx.
func FuzzSendSMSRequest(f *testing.F) {
	for _, seed := range []struct{ body, key string }{
		{`{"number": "+541112345678", "text": "hi"}`, ""},
		{`{"number": "+541112345678", "text": "hi"}`, "key-1"},
		{`{"number": "+541112345678", "text": "` + strings.Repeat("😀", 1601) + `"}`, ""},
		{`{"number": "+0", "text": "hi"}`, ""},
		{`{"number": null, "text": null}`, ""},
		{`{"number": 5, "text": {}}`, ""},
		{`{"number": "+541112345678", "text": "\u0000"}`, ""},
		{`{"number": "+541112345678", "text": "\ud800"}`, ""},
		{`{"number": "+541112345678"`, ""},
		{`[]`, ""},
		{"\xff", "\x01"},
	} {
		f.Add(seed.body, seed.key)
	}
	logger := slog.New(slog.DiscardHandler)
	handler := httpapi.NewHTTPHandler(app.Application{Commands: app.Commands{
		SubmitSendSMS: command.NewSubmitSendSMSHandler(newSubmissions{}, acceptAll{}, nullBus{}, nil, logger),
	}}, nil, logger)
	f.Fuzz(func(t *testing.T, body, key string) {
		for _, path := range []string{"/api/sms", "/sms"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header["Idempotency-Key"] = []string{key}
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			assertAnswered(t, rec, fmt.Sprintf("%s %q", path, body), http.StatusAccepted, http.StatusOK)
		}
	})
}
