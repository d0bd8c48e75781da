package service_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	appcommand "github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/domain/access"
	"github.com/techradar/techradar/internal/testenv"
	"github.com/techradar/techradar/ports/httpapi"
	"github.com/techradar/techradar/service"
)

// apiKeyConfig is the embedded mode asking for API keys.
func apiKeyConfig(t *testing.T) config.Config {
	t.Helper()
	c := embeddedConfig(t)
	c.Auth.Mode = config.AuthAPIKey
	return c
}

// admin opens the operator's side of cfg's store, as `techradar apikey` does.
func admin(t *testing.T, cfg config.Config) *service.Admin {
	t.Helper()
	a, err := service.OpenAdmin(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func createKey(t *testing.T, a *service.Admin, name string, scopes ...access.Scope) string {
	t.Helper()
	created, err := a.App.Commands.CreateAPIKey.Handle(context.Background(), appcommand.CreateAPIKey{Name: name, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return created.Key
}

func revokeKey(t *testing.T, a *service.Admin, name string) {
	t.Helper()
	if err := a.App.Commands.RevokeAPIKey.Handle(context.Background(), appcommand.RevokeAPIKey{Name: name}); err != nil {
		t.Fatal(err)
	}
}

func bearer(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }

// TestAuthorizationMatrix calls every route the service registers with no
// key, an unknown key, a key without the route's scope, a key with it, and a
// revoked key. A route without an access rule fails it.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	cfg := apiKeyConfig(t)
	r := start(t, cfg, config.RoleServe)
	a := admin(t, cfg)

	only, allBut := map[access.Scope]string{}, map[access.Scope]string{}
	for _, scope := range access.Scopes {
		only[scope] = createKey(t, a, "only-"+strings.ReplaceAll(string(scope), ":", "-"), scope)
		others := slices.DeleteFunc(slices.Clone(access.Scopes), func(s access.Scope) bool { return s == scope })
		allBut[scope] = createKey(t, a, "all-but-"+strings.ReplaceAll(string(scope), ":", "-"), others...)
	}
	revoked := createKey(t, a, "revoked", access.Scopes...)
	revokeKey(t, a, "revoked")
	unknown, _ := access.NewAPIKey()

	routes := r.svc.HTTPRoutes()
	if len(routes) < 10 {
		t.Fatalf("only %d routes registered: %v", len(routes), routes)
	}
	params := strings.NewReplacer(":id", "0190c7a0-0000-7000-8000-000000000000", ":uuid", "0190c7a0-0000-7000-8000-000000000000", ":name", "app.js")
	for _, route := range routes {
		rule, ok := httpapi.RouteAccess(route.Method, route.Path)
		if !ok {
			t.Errorf("%s %s has no access rule: add it to the table in ports/httpapi/auth.go", route.Method, route.Path)
			continue
		}
		path := params.Replace(route.Path)
		call := func(key string) response {
			body := ""
			if route.Method == http.MethodPost {
				body = "{}"
			}
			var header map[string]string
			if key != "" {
				header = bearer(key)
			}
			return r.do(route.Method, path, body, header)
		}
		expect := func(who string, got response, want int) {
			t.Helper()
			switch {
			case want == 0 && (got.status == http.StatusUnauthorized || got.status == http.StatusForbidden):
				t.Errorf("%s %s with %s: %d %s, want neither 401 nor 403", route.Method, route.Path, who, got.status, got.body)
			case want != 0 && got.status != want:
				t.Errorf("%s %s with %s: %d %s, want %d", route.Method, route.Path, who, got.status, got.body, want)
			case want == http.StatusUnauthorized && !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer"):
				t.Errorf("%s %s with %s: 401 without a Bearer challenge", route.Method, route.Path, who)
			case want == http.StatusForbidden:
				if code, _ := got.errorOf(t); code != "forbidden" || !strings.Contains(string(got.body), string(rule.Scope)) {
					t.Errorf("%s %s with %s: 403 %s does not name the scope %s", route.Method, route.Path, who, got.body, rule.Scope)
				}
			case want == http.StatusUnauthorized:
				got.errorOf(t)
			}
		}
		if rule.Public {
			for who, key := range map[string]string{"no key": "", "an unknown key": unknown, "a revoked key": revoked} {
				expect(who, call(key), 0)
			}
			continue
		}
		expect("no key", call(""), http.StatusUnauthorized)
		expect("an unknown key", call(unknown), http.StatusUnauthorized)
		expect("a key without "+string(rule.Scope), call(allBut[rule.Scope]), http.StatusForbidden)
		expect("a key with "+string(rule.Scope), call(only[rule.Scope]), 0)
		expect("a revoked key", call(revoked), http.StatusUnauthorized)
	}

	// X-API-Key is the other way to send a key.
	if got := r.do(http.MethodGet, "/api/techs", "", map[string]string{"X-API-Key": only[access.TechsRead]}); got.status != http.StatusOK {
		t.Errorf("GET /api/techs with X-API-Key: %d %s", got.status, got.body)
	}
}

func TestPublicReads(t *testing.T) {
	t.Parallel()
	cfg := apiKeyConfig(t)
	cfg.Auth.PublicReads = true
	r := start(t, cfg, config.RoleServe)
	for _, path := range []string{"/api/techs", "/get"} {
		if got := r.get(path); got.status != http.StatusOK {
			t.Errorf("GET %s without a key: %d %s", path, got.status, got.body)
		}
	}
	if got := r.do(http.MethodPost, "/api/techs", `{"name":"Go"}`, nil); got.status != http.StatusUnauthorized {
		t.Errorf("POST /api/techs without a key: %d %s", got.status, got.body)
	}
}

// TestIdempotencyKeysArePerClient: two clients choosing the same
// Idempotency-Key get two commands, and each client's retry its own.
func TestIdempotencyKeysArePerClient(t *testing.T) {
	t.Parallel()
	cfg := apiKeyConfig(t)
	r := start(t, cfg, config.RoleServe)
	a := admin(t, cfg)
	alice := createKey(t, a, "alice", access.TechsWrite, access.TechsRead)
	bob := createKey(t, a, "bob", access.TechsWrite, access.TechsRead)

	post := func(key, name string) accepted {
		t.Helper()
		h := bearer(key)
		h["Idempotency-Key"] = "order-1"
		return r.postTech(name, h)
	}
	first, second := post(alice, "Kafka"), post(bob, "Redis")
	if first.CommandID == second.CommandID {
		t.Fatalf("two clients' commands under one Idempotency-Key collide: %+v, %+v", first, second)
	}
	if again := post(alice, "Kafka"); again.CommandID != first.CommandID {
		t.Fatalf("a client's retry got another command: %+v, then %+v", first, again)
	}
	// Bob's retry is Bob's, not refused as Alice's key with another body.
	if again := post(bob, "Redis"); again.CommandID != second.CommandID {
		t.Fatalf("a client's retry got another command: %+v, then %+v", second, again)
	}
	var techs struct {
		Data []struct{ Name string } `json:"data"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.do(http.MethodGet, "/api/techs", "", bearer(alice)).json(t, &techs)
		if len(techs.Data) == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("techs = %+v, want Kafka and Redis", techs.Data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRevocationSeenByEveryService: two services on one MySQL database; a key
// revoked from outside is refused by both within 5 seconds, though both have
// just accepted it.
func TestRevocationSeenByEveryService(t *testing.T) {
	t.Parallel()
	cfg := apiKeyConfig(t)
	cfg.Store = config.StoreMySQL
	cfg.MySQL.DSN = testenv.MySQLDatabase(t)
	services := []*running{start(t, cfg, config.RoleServe), start(t, cfg, config.RoleServe)}
	a := admin(t, cfg)
	key := createKey(t, a, "leaked", access.TechsRead)
	for i, r := range services {
		if got := r.do(http.MethodGet, "/api/techs", "", bearer(key)); got.status != http.StatusOK {
			t.Fatalf("service %d before the revocation: %d %s", i, got.status, got.body)
		}
	}
	revokeKey(t, a, "leaked")
	revokedAt := time.Now()
	for i, r := range services {
		for {
			got := r.do(http.MethodGet, "/api/techs", "", bearer(key))
			if got.status == http.StatusUnauthorized {
				break
			}
			if time.Since(revokedAt) > 5*time.Second {
				t.Fatalf("service %d still answers %d to the key %s after its revocation", i, got.status, time.Since(revokedAt))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestAccessAnswersMatchTheDocument holds the 401 and 403 answers of
// AUTH_MODE=apikey against the OpenAPI document, which the document test,
// running with access control off, cannot get.
func TestAccessAnswersMatchTheDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := apiKeyConfig(t)
	r := start(t, cfg, config.RoleServe)
	reader := createKey(t, admin(t, cfg), "reader", access.TechsRead)

	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: r.baseURL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path, body string
		header             map[string]string
		status             int
	}{
		{http.MethodGet, "/api/techs", "", nil, http.StatusUnauthorized},
		{http.MethodGet, "/api/sms/0190c7a0-0000-7000-8000-000000000000", "", bearer(reader), http.StatusForbidden},
		{http.MethodPost, "/api/techs", `{"name":"Go"}`, bearer(reader), http.StatusForbidden},
		{http.MethodGet, "/metrics", "", bearer(reader), http.StatusForbidden},
	} {
		resp := r.do(tc.method, tc.path, tc.body, tc.header)
		if resp.status != tc.status {
			t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.status, resp.body, tc.status)
		}
		req, _ := http.NewRequest(tc.method, r.baseURL+tc.path, strings.NewReader(tc.body))
		route, pathParams, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s is not in the document: %v", tc.method, tc.path, err)
		}
		err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route},
			Status:                 resp.status,
			Header:                 resp.header,
			Body:                   io.NopCloser(bytes.NewReader(resp.body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		})
		if err != nil {
			t.Errorf("%s %s → %d %s\ndoes not match the document: %v", tc.method, tc.path, resp.status, resp.body, err)
		}
	}
}

// TestWarnsWhenOpenBeyondLoopback: AUTH_MODE=off on an address others can
// reach logs one warning at start; on loopback, or with keys, none.
func TestWarnsWhenOpenBeyondLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		role                  config.Role
		addr, admin           string
		mode                  string
		httpWarns, adminWarns bool
	}{
		{role: config.RoleServe, addr: ":0", mode: config.AuthOff, httpWarns: true},
		{role: config.RoleServe, addr: "127.0.0.1:0", mode: config.AuthOff},
		{role: config.RoleServe, addr: ":0", mode: config.AuthAPIKey},
		// A worker serves /metrics on HTTP_ADDR.
		{role: config.RoleWorker, addr: ":0", mode: config.AuthOff, httpWarns: true},
		{role: config.RoleWorker, addr: "127.0.0.1:0", mode: config.AuthOff},
		// ADMIN_ADDR never asks for a key, whatever AUTH_MODE says.
		{role: config.RoleServe, addr: "127.0.0.1:0", admin: ":0", mode: config.AuthAPIKey, adminWarns: true},
		{role: config.RoleServe, addr: "127.0.0.1:0", admin: "127.0.0.1:0", mode: config.AuthOff},
	} {
		cfg := embeddedConfig(t)
		cfg.HTTP.Addr, cfg.Auth.Mode, cfg.Limits.AdminAddr = tc.addr, tc.mode, tc.admin
		var logs syncBuffer
		svc, err := service.New(context.Background(), cfg, tc.role, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(context.Background()); err != nil {
			_ = svc.Close()
			t.Fatal(err)
		}
		_ = svc.Close()
		httpWarnings, adminWarnings := 0, 0
		for _, record := range logs.lines() {
			msg, _ := record["msg"].(string)
			if record["level"] != "WARN" {
				continue
			}
			if strings.Contains(msg, "AUTH_MODE=off") {
				httpWarnings++
			}
			if strings.Contains(msg, "ADMIN_ADDR") {
				adminWarnings++
			}
		}
		count := map[bool]int{true: 1, false: 0}
		if httpWarnings != count[tc.httpWarns] || adminWarnings != count[tc.adminWarns] {
			t.Errorf("%s with HTTP_ADDR=%s ADMIN_ADDR=%q AUTH_MODE=%s: %d warnings of HTTP_ADDR and %d of ADMIN_ADDR, want %d and %d",
				tc.role, tc.addr, tc.admin, tc.mode, httpWarnings, adminWarnings, count[tc.httpWarns], count[tc.adminWarns])
		}
	}
}
