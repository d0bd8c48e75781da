package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/ports/httpapi"
)

// knownTechs knows the techs "a" (active) and "r" (retired).
type knownTechs struct{}

func (knownTechs) TechStatus(_ context.Context, id string) (tech.Status, error) {
	switch id {
	case "a", "b":
		return tech.StatusActive, nil
	case "r":
		return tech.StatusRetired, nil
	}
	return "", apperr.NotFoundf("no tech with id %q", id)
}

// FuzzCurationRequests sends arbitrary bodies, content types and ids to the
// retire and merge routes: every answer is 202 or a 4xx with the JSON error
// shape, never a panic or a 5xx.
func FuzzCurationRequests(f *testing.F) {
	for _, s := range []struct{ id, body, contentType string }{
		{"a", `{"reason": "old"}`, "application/json"},
		{"a", ``, ""},
		{"a", `{}`, "application/json"},
		{"a", `{"into": "b"}`, "application/json"},
		{"a", `{"into": "a"}`, "application/json"},
		{"a", `{"into": "r"}`, "application/json"},
		{"a", `{"into": null, "reason": 3}`, "application/json"},
		{"x", `{"into": "a"}`, "application/json"},
		{"a", `{"reason": "\u0000"}`, "application/json"},
		{"a", `{"into": "b"`, "application/json"},
		{"a", `{"into": "b"}`, "text/plain"},
		{"%2F", `[]`, "application/json"},
	} {
		f.Add(s.id, s.body, s.contentType)
	}

	logger := slog.New(slog.DiscardHandler)
	retire, merge := command.NewCurationSubmissions(knownTechs{}, acceptAll{}, nullBus{}, nil, logger)
	handler := httpapi.NewHTTPHandler(app.Application{Commands: app.Commands{SubmitRetireTech: retire, SubmitMergeTech: merge}}, nil, logger)

	f.Fuzz(func(t *testing.T, id, body, contentType string) {
		if id == "" {
			return
		}
		for _, action := range []string{"retire", "merge"} {
			path := "/api/techs/" + url.PathEscape(id) + "/" + action
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			assertAnswered(t, rec, fmt.Sprintf("%s %q (%s)", path, body, contentType), http.StatusAccepted)
		}
	})
}
