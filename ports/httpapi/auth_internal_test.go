package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/access"
)

// keysOf authenticates the keys it maps to their principals.
type keysOf map[string]access.Principal

func (k keysOf) Handle(_ context.Context, q query.AuthenticateAPIKey) (access.Principal, error) {
	if p, ok := k[q.Key]; ok {
		return p, nil
	}
	return access.Principal{}, query.ErrUnauthenticated
}

func FuzzPresentedAPIKey(f *testing.F) {
	key, _ := access.NewAPIKey()
	for _, seed := range []struct{ authorization, apiKey string }{
		{"Bearer " + key, ""}, {"", key}, {"bearer " + key, ""}, {"Basic dXNlcjpwYXNz", ""},
		{"Bearer", ""}, {"Bearer  " + key, ""}, {"Bearer " + key + " x", ""}, {"Bearer " + key, key},
		{"", " "}, {"", "trk_\x00"}, {"Bearer é", ""}, {"", strings.Repeat("a", 200)},
	} {
		f.Add(seed.authorization, seed.apiKey)
	}
	f.Fuzz(func(t *testing.T, authorization, apiKey string) {
		h := http.Header{}
		if authorization != "" {
			h.Set(echo.HeaderAuthorization, authorization)
		}
		if apiKey != "" {
			h.Set(APIKeyHeader, apiKey)
		}
		got, presented, err := presentedAPIKey(h)
		if presented != (authorization != "" || apiKey != "") {
			t.Fatalf("presented = %v for %q / %q", presented, authorization, apiKey)
		}
		if err != nil {
			if got != "" {
				t.Fatalf("an error and a key %q", got)
			}
			return
		}
		if !presented {
			return
		}
		if got == "" || len(got) > maxPresentedKeyLength || strings.Trim(got, tokenCharacters) != "" {
			t.Fatalf("accepted %q from %q / %q", got, authorization, apiKey)
		}
		if authorization != "" && apiKey != "" {
			t.Fatalf("two headers accepted: %q / %q", authorization, apiKey)
		}
		if apiKey != "" && got != apiKey || authorization != "" && !strings.HasSuffix(authorization, " "+got) {
			t.Fatalf("read %q from %q / %q", got, authorization, apiKey)
		}
	})
}

func TestPresentedAPIKeyShapes(t *testing.T) {
	t.Parallel()
	key, _ := access.NewAPIKey()
	for _, tc := range []struct {
		header        http.Header
		wantKey       string
		wantPresented bool
		wantErr       bool
	}{
		{http.Header{}, "", false, false},
		{http.Header{"Authorization": {"Bearer " + key}}, key, true, false},
		{http.Header{"Authorization": {"bearer " + key}}, key, true, false},
		{http.Header{"X-Api-Key": {key}}, key, true, false},
		{http.Header{"Authorization": {"Basic " + key}}, "", true, true},
		{http.Header{"Authorization": {"Bearer"}}, "", true, true},
		{http.Header{"Authorization": {"Bearer "}}, "", true, true},
		{http.Header{"Authorization": {"Bearer " + key + " "}}, "", true, true},
		{http.Header{"Authorization": {"Bearer " + key, "Bearer " + key}}, "", true, true},
		{http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {key}}, "", true, true},
		{http.Header{"X-Api-Key": {""}}, "", true, true},
		{http.Header{"X-Api-Key": {strings.Repeat("a", maxPresentedKeyLength+1)}}, "", true, true},
	} {
		key, presented, err := presentedAPIKey(tc.header)
		if key != tc.wantKey || presented != tc.wantPresented || (err != nil) != tc.wantErr {
			t.Errorf("%v: %q, %v, %v", tc.header, key, presented, err)
		}
	}
}

func TestAccessMiddleware(t *testing.T) {
	t.Parallel()
	keys := keysOf{
		"reader": {KeyName: "reader", Scopes: []access.Scope{access.TechsRead}},
		"writer": {KeyName: "writer", Scopes: []access.Scope{access.TechsWrite}},
		"all":    {KeyName: "all", Scopes: access.Scopes},
	}
	build := func(publicReads bool) *echo.Echo {
		e := echo.New()
		e.HTTPErrorHandler = HTTPServer{logger: slog.New(slog.DiscardHandler)}.handleError
		var o httpOptions
		WithAPIKeys(keys, publicReads)(&o)
		e.Use(o.apiKeys.middleware)
		answer := func(c echo.Context) error {
			p, _ := access.PrincipalFrom(c.Request().Context())
			return c.String(http.StatusOK, p.KeyName)
		}
		e.GET("/healthz", answer)
		e.GET("/api/techs", answer)
		e.POST("/api/techs", answer)
		e.GET("/api/commands/:id", answer)
		e.GET("/unruled", answer) // a route someone forgot in accessRules
		return e
	}
	type call struct {
		method, path, key string
		wantStatus        int
		wantBody          string
	}
	run := func(t *testing.T, e *echo.Echo, calls []call) {
		for _, c := range calls {
			req := httptest.NewRequest(c.method, c.path, nil)
			if c.key != "" {
				req.Header.Set(echo.HeaderAuthorization, "Bearer "+c.key)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != c.wantStatus || !strings.Contains(rec.Body.String(), c.wantBody) {
				t.Errorf("%s %s with %q: %d %s, want %d with %q", c.method, c.path, c.key, rec.Code, rec.Body, c.wantStatus, c.wantBody)
				continue
			}
			if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: 401 without a Bearer challenge: %q", c.method, c.path, rec.Header().Get("WWW-Authenticate"))
			}
			if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				var body errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
					t.Errorf("%s %s: %d without the error shape: %s", c.method, c.path, rec.Code, rec.Body)
				}
			}
		}
	}
	t.Run("keys", func(t *testing.T) {
		t.Parallel()
		run(t, build(false), []call{
			{http.MethodGet, "/healthz", "", http.StatusOK, ""},
			{http.MethodGet, "/api/techs", "", http.StatusUnauthorized, "unauthenticated"},
			{http.MethodGet, "/api/techs", "stolen", http.StatusUnauthorized, "unknown or revoked"},
			{http.MethodGet, "/api/techs", "reader", http.StatusOK, "reader"},
			{http.MethodPost, "/api/techs", "reader", http.StatusForbidden, "techs:write"},
			{http.MethodPost, "/api/techs", "writer", http.StatusOK, "writer"},
			{http.MethodGet, "/api/commands/1", "writer", http.StatusForbidden, "techs:read"},
			// Fail closed: a route without a rule is refused to every key.
			{http.MethodGet, "/unruled", "all", http.StatusForbidden, "no access rule"},
			{http.MethodGet, "/unruled", "", http.StatusForbidden, "no access rule"},
			// What is not a route stays echo's 404 and 405.
			{http.MethodGet, "/nowhere", "", http.StatusNotFound, ""},
			{http.MethodDelete, "/api/techs", "", http.StatusMethodNotAllowed, ""},
			// Preflights pass unauthenticated.
			{http.MethodOptions, "/api/techs", "", http.StatusNoContent, ""},
		})
	})
	t.Run("public reads", func(t *testing.T) {
		t.Parallel()
		run(t, build(true), []call{
			{http.MethodGet, "/api/techs", "", http.StatusOK, ""},
			{http.MethodGet, "/api/techs", "writer", http.StatusOK, "writer"},
			{http.MethodGet, "/api/techs", "stolen", http.StatusUnauthorized, ""},
			{http.MethodPost, "/api/techs", "", http.StatusUnauthorized, ""},
			{http.MethodGet, "/api/commands/1", "", http.StatusUnauthorized, ""},
		})
	})
}
