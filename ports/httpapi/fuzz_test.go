package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/ports/httpapi"
)

type acceptAll struct{}

func (acceptAll) Accept(context.Context, string, time.Time, any, string) (command.Accepted, error) {
	return command.Accepted{Status: command.StatusPending, Created: true}, nil
}
func (acceptAll) Forget(context.Context, string) error             { return nil }
func (acceptAll) MarkFailed(context.Context, string, string) error { return nil }

// KnownCommand: every command is new, so the status checks always run.
func (acceptAll) KnownCommand(context.Context, string) (bool, error) { return false, nil }

type nullBus struct{}

func (nullBus) Send(context.Context, any) error { return nil }

// FuzzCreateTechRequest sends arbitrary bodies, content types and idempotency
// keys: every answer must be 202 or a 4xx with the JSON error shape, never a
// panic or a 5xx.
func FuzzCreateTechRequest(f *testing.F) {
	seeds := []struct{ body, contentType, key string }{
		{`{"name": "Kafka"}`, "application/json", ""},
		{`{"name": "Kafka"}`, "application/json; charset=utf-8", "key-1"},
		{`{"name": ""}`, "application/json", ""},
		{`{"name": 1}`, "application/json", ""},
		{`{"name": null}`, "application/json", ""},
		{`{"name": "x", "y": 2}`, "application/json", ""},
		{`{"name": "\u0000"}`, "application/json", ""},
		{`{"name": "x"`, "application/json", ""},
		{`[]`, "application/json", ""},
		{`"x"`, "application/json", ""},
		{`{"name": "x"}{}`, "application/json", ""},
		{`{"name": "x"}`, "text/plain", ""},
		{`{"name": "x"}`, "", "\x7f"},
		{"\xff", "application/json", ""},
		{`{"text": "Kafka"}`, "application/problem+json", ""},
		{"text=Kafka", "application/x-www-form-urlencoded", ""},
		{"text=a&text=b", "application/x-www-form-urlencoded", ""},
		{"text=%zz;x", "application/x-www-form-urlencoded; charset=utf-8", ""},
	}
	for _, s := range seeds {
		f.Add(s.body, s.contentType, s.key)
	}

	logger := slog.New(slog.DiscardHandler)
	handler := httpapi.NewHTTPHandler(app.Application{Commands: app.Commands{
		SubmitCreateTech: command.NewSubmitCreateTechHandler(acceptAll{}, nullBus{}, nil, logger),
	}}, nil, logger)

	f.Fuzz(func(t *testing.T, body, contentType, key string) {
		for _, path := range []string{"/api/techs", "/create"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			if key != "" {
				req.Header["Idempotency-Key"] = []string{key}
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)

			assertAnswered(t, rec, fmt.Sprintf("%s %q (%s)", path, body, contentType), http.StatusAccepted, http.StatusCreated)
		}
	})
}
