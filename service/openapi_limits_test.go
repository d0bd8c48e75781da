package service_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/ports/httpapi"
)

// TestOpenAPIDocumentsTheLimits holds the answers of a service with its limits
// on, the RateLimit headers and the 429s, against the document.
func TestOpenAPIDocumentsTheLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := embeddedConfig(t)
	cfg.Limits.RateLimit, cfg.Limits.SMSNumberLimit = "4/1h", "1/1h"
	app := start(t, cfg, config.RoleServe)

	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: app.baseURL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	check := func(method, path, body string, status int) response {
		t.Helper()
		resp := app.do(method, path, body, nil)
		if resp.status != status {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.status, resp.body, status)
		}
		req, err := http.NewRequest(method, app.baseURL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		route, pathParams, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route},
			Status:                 resp.status,
			Header:                 resp.header,
			Body:                   io.NopCloser(bytes.NewReader(resp.body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		})
		if err != nil {
			t.Errorf("%s %s → %d %.300s\ndoes not match the document: %v", method, path, resp.status, resp.body, err)
		}
		documented := route.Operation.Responses.Status(status)
		if documented == nil || documented.Value == nil {
			t.Fatalf("%s %s: %d is not documented", method, path, status)
		}
		for name := range documented.Value.Headers {
			if name != "Location" && resp.header.Get(name) == "" {
				t.Errorf("%s %s → %d: documented header %s not sent", method, path, status, name)
			}
		}
		return resp
	}

	check(http.MethodPost, "/api/sms", `{"number": "+541112345678", "text": "one"}`, http.StatusAccepted)
	check(http.MethodPost, "/sms", `{"number": "+541112345678", "text": "two"}`, http.StatusTooManyRequests)
	check(http.MethodPost, "/api/techs", `{"name": "Kafka"}`, http.StatusAccepted)
	check(http.MethodGet, "/api/techs", "", http.StatusOK)
	check(http.MethodGet, "/get", "", http.StatusTooManyRequests)
	check(http.MethodPost, "/create", `{"text": "Go"}`, http.StatusTooManyRequests)
}
