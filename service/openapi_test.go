package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/ports/httpapi"
)

// registerTextDecoders lets the validator read the bodies of the page, its
// files and /metrics, which are text of types it has no decoder for.
var registerTextDecoders = sync.OnceFunc(func() {
	for _, contentType := range []string{"text/html", "text/css", "text/javascript", "image/svg+xml", "application/openmetrics-text"} {
		openapi3filter.RegisterBodyDecoder(contentType, openapi3filter.PlainBodyDecoder)
	}
})

// echoParam matches a path parameter in echo's syntax, :name.
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestOpenAPIDocument holds the served OpenAPI document against the service: it
// documents exactly the routes the service registers, and the service's real
// answers, successes and errors alike, match the documented statuses and schemas.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	registerTextDecoders()
	ctx := context.Background()
	app := start(t, embeddedConfig(t), config.RoleServe)

	served := app.get(httpapi.OpenAPIPath)
	if served.status != http.StatusOK || !bytes.Equal(served.body, httpapi.OpenAPIDocument()) {
		t.Fatalf("GET %s: %d, not the embedded document", httpapi.OpenAPIPath, served.status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(served.body)
	if err != nil {
		t.Fatalf("the document does not load: %v", err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}

	t.Run("documents exactly the registered routes", func(t *testing.T) {
		registered := map[string]bool{}
		for _, r := range app.svc.HTTPRoutes() {
			registered[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
		}
		documented := map[string]bool{}
		for path, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				documented[method+" "+path] = true
			}
		}
		for route := range registered {
			if !documented[route] {
				t.Errorf("%s is served but not documented", route)
			}
		}
		for route := range documented {
			if !registered[route] {
				t.Errorf("%s is documented but not served", route)
			}
		}
	})

	t.Run("real answers match the document", func(t *testing.T) {
		doc.Servers = openapi3.Servers{{URL: app.baseURL}}
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			t.Fatal(err)
		}
		exercised := map[string]bool{}

		// check sends one request, expects status, and validates the answer
		// against the operation the document gives for the request.
		check := func(method, path, body string, header map[string]string, status int) response {
			t.Helper()
			resp := app.do(method, path, body, header)
			if resp.status != status {
				t.Fatalf("%s %s: %d %s, want %d", method, path, resp.status, resp.body, status)
			}
			req, err := http.NewRequest(method, app.baseURL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			route, pathParams, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("%s %s is not in the document: %v", method, path, err)
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
			exercised[method+" "+route.Path] = true
			return resp
		}
		asJSON := func(resp response, into any) {
			t.Helper()
			if err := json.Unmarshal(resp.body, into); err != nil {
				t.Fatal(err)
			}
		}

		var accepted struct {
			CommandID string `json:"commandId"`
		}
		asJSON(check(http.MethodPost, "/api/techs", `{"name": "OpenAPI"}`, nil, http.StatusAccepted), &accepted)
		check(http.MethodPost, "/api/techs", `{"name": ""}`, nil, http.StatusBadRequest)
		check(http.MethodPost, "/api/techs", `{"name": `, nil, http.StatusBadRequest)
		check(http.MethodPost, "/api/techs", `{"name": "x"}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType)
		check(http.MethodPost, "/api/techs", `{"name": "`+strings.Repeat("x", httpapi.MaxBodyBytes)+`"}`, nil, http.StatusRequestEntityTooLarge)
		app.waitProcessed(accepted.CommandID)
		keyed := map[string]string{httpapi.IdempotencyKeyHeader: "openapi-key"}
		check(http.MethodPost, "/api/techs", `{"name": "OpenAPI keyed"}`, keyed, http.StatusAccepted)
		app.waitProcessed("openapi-key")
		check(http.MethodPost, "/api/techs", `{"name": "OpenAPI keyed"}`, keyed, http.StatusAccepted) // with techId
		check(http.MethodPost, "/api/techs", `{"name": "Another"}`, keyed, http.StatusUnprocessableEntity)
		check(http.MethodGet, "/api/commands/"+accepted.CommandID, "", nil, http.StatusOK)
		check(http.MethodGet, "/api/commands/no-such-command", "", nil, http.StatusNotFound)

		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		asJSON(check(http.MethodGet, "/api/techs", "", nil, http.StatusOK), &list)
		check(http.MethodGet, "/api/techs?limit=1", "", nil, http.StatusOK)
		check(http.MethodGet, "/api/techs?limit=many", "", nil, http.StatusBadRequest)
		if len(list.Data) == 0 {
			t.Fatal("the list is empty")
		}
		check(http.MethodGet, "/api/techs/"+list.Data[0].ID, "", nil, http.StatusOK)
		check(http.MethodGet, "/api/techs/no-such-tech", "", nil, http.StatusNotFound)

		retired, duplicate, target := app.mentioned("Retired by OpenAPI", 1), app.mentioned("Merged by OpenAPI", 1), list.Data[0].ID
		var retire struct {
			CommandID string `json:"commandId"`
		}
		asJSON(check(http.MethodPost, "/api/techs/"+retired+"/retire", `{"reason": "documented"}`, nil, http.StatusAccepted), &retire)
		check(http.MethodPost, "/api/techs/"+retired+"/retire", `{"reason": 1}`, nil, http.StatusBadRequest)
		check(http.MethodPost, "/api/techs/no-such-tech/retire", "", nil, http.StatusNotFound)
		check(http.MethodPost, "/api/techs/"+retired+"/retire", `{"reason": "x"}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType)
		check(http.MethodPost, "/api/techs/"+retired+"/retire", `{"reason": "`+strings.Repeat("x", httpapi.MaxBodyBytes)+`"}`, nil, http.StatusRequestEntityTooLarge)
		retireKey := map[string]string{httpapi.IdempotencyKeyHeader: "openapi-retire"}
		check(http.MethodPost, "/api/techs/"+retired+"/retire", `{"reason": "a"}`, retireKey, http.StatusAccepted)
		check(http.MethodPost, "/api/techs/"+retired+"/retire", `{"reason": "b"}`, retireKey, http.StatusUnprocessableEntity)
		app.waitProcessed(retire.CommandID)
		check(http.MethodGet, "/api/techs/"+retired, "", nil, http.StatusOK)
		var merge struct {
			CommandID string `json:"commandId"`
		}
		asJSON(check(http.MethodPost, "/api/techs/"+duplicate+"/merge", `{"into": "`+target+`"}`, nil, http.StatusAccepted), &merge)
		check(http.MethodPost, "/api/techs/"+target+"/merge", `{"into": "`+target+`"}`, nil, http.StatusBadRequest)
		check(http.MethodPost, "/api/techs/no-such-tech/merge", `{"into": "`+target+`"}`, nil, http.StatusNotFound)
		check(http.MethodPost, "/api/techs/"+target+"/merge", `{"into": "x"}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType)
		check(http.MethodPost, "/api/techs/"+target+"/merge", `{"into": "`+strings.Repeat("x", httpapi.MaxBodyBytes)+`"}`, nil, http.StatusRequestEntityTooLarge)
		mergeKey := map[string]string{httpapi.IdempotencyKeyHeader: "openapi-merge"}
		check(http.MethodPost, "/api/techs/"+duplicate+"/merge", `{"into": "`+target+`"}`, mergeKey, http.StatusAccepted)
		check(http.MethodPost, "/api/techs/"+retired+"/merge", `{"into": "`+target+`"}`, mergeKey, http.StatusUnprocessableEntity)
		app.waitProcessed(merge.CommandID)
		check(http.MethodGet, "/api/techs/"+duplicate, "", nil, http.StatusOK)
		check(http.MethodGet, "/api/policy", "", nil, http.StatusOK)

		check(http.MethodPost, "/create", `{"text": "Swagger"}`, nil, http.StatusCreated)
		check(http.MethodPost, "/create", `{}`, nil, http.StatusBadRequest)
		check(http.MethodGet, "/get", "", nil, http.StatusOK)

		var sms struct {
			ID string `json:"id"`
		}
		asJSON(check(http.MethodPost, "/api/sms", `{"number": "+541112345678", "text": "Your code is 1234"}`, nil, http.StatusAccepted), &sms)
		check(http.MethodPost, "/api/sms", `{"number": "not a number", "text": "x"}`, nil, http.StatusBadRequest)
		check(http.MethodPost, "/api/sms", `{"number": "+541112345678", "text": "one"}`, keyed, http.StatusAccepted)
		check(http.MethodPost, "/api/sms", `{"number": "+541112345678", "text": "another"}`, keyed, http.StatusUnprocessableEntity)
		check(http.MethodGet, "/api/sms/no-such-sms", "", nil, http.StatusNotFound)
		var compatSMS struct {
			UUID string `json:"uuid"`
		}
		asJSON(check(http.MethodPost, "/sms", `{"number": "+541112345678", "text": "hello"}`, nil, http.StatusOK), &compatSMS)
		check(http.MethodGet, "/key/no-such-key", "", nil, http.StatusOK)
		eventually(t, 10*time.Second, func() bool {
			var status struct {
				Status string `json:"status"`
			}
			asJSON(check(http.MethodGet, "/api/sms/"+sms.ID, "", nil, http.StatusOK), &status)
			return status.Status == "sent"
		}, "the SMS was never sent")
		eventually(t, 10*time.Second, func() bool {
			var outcome struct {
				Value *string `json:"value"`
			}
			asJSON(check(http.MethodGet, "/key/"+compatSMS.UUID, "", nil, http.StatusOK), &outcome)
			return outcome.Value != nil
		}, "the compatibility SMS never got an outcome")

		check(http.MethodGet, "/healthz", "", nil, http.StatusOK)
		check(http.MethodGet, "/readyz", "", nil, http.StatusOK)
		check(http.MethodGet, "/metrics", "", nil, http.StatusOK)
		check(http.MethodGet, httpapi.OpenAPIPath, "", nil, http.StatusOK)
		check(http.MethodGet, "/", "", nil, http.StatusOK)
		for _, asset := range []string{"app.css", "app.js", "favicon.svg"} {
			check(http.MethodGet, "/assets/"+asset, "", nil, http.StatusOK)
		}
		check(http.MethodGet, "/assets/no-such-file.js", "", nil, http.StatusNotFound)

		// Every documented operation has had an answer checked.
		for path, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				if !exercised[method+" "+path] {
					t.Errorf("no answer of %s %s was checked", method, path)
				}
			}
		}
		if t.Failed() {
			documented := slices.Sorted(func(yield func(string) bool) {
				for k := range exercised {
					if !yield(k) {
						return
					}
				}
			})
			t.Logf("checked: %v", documented)
		}
	})
}
