package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/ratelimit"
	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/limit"
	"github.com/techradar/techradar/domain/access"
	"github.com/techradar/techradar/ports/httpapi"
)

// accessHandler is the API on use cases that accept everything, with a.
func accessHandler(t *testing.T, a httpapi.AccessControl) http.Handler {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	return httpapi.NewHTTPHandler(app.Application{Commands: app.Commands{
		SubmitCreateTech: command.NewSubmitCreateTechHandler(acceptAll{}, nullBus{}, nil, logger),
		SubmitSendSMS:    command.NewSubmitSendSMSHandler(newSubmissions{}, acceptAll{}, nullBus{}, nil, logger),
	}}, nil, logger, httpapi.WithAccessControl(a))
}

func memoryLimiter(t *testing.T, r limit.Rate) limit.Limiter {
	t.Helper()
	l, err := ratelimit.NewMemory(r, ratelimit.DefaultMaxKeys)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type call struct {
	method, path, body string
	peer               string // RemoteAddr, host:port
	header             map[string]string
	principal          *access.Principal
}

func serve(h http.Handler, c call) *httptest.ResponseRecorder {
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.peer != "" {
		req.RemoteAddr = c.peer
	}
	if c.principal != nil {
		// As authentication would, before the rate limit runs.
		req = req.WithContext(access.WithPrincipal(req.Context(), *c.principal))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func postTech(peer string) call {
	return call{method: http.MethodPost, path: "/api/techs", body: `{"name": "Kafka"}`, peer: peer}
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) (code, field string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Message == "" {
		t.Fatalf("no JSON error in %d %s", rec.Code, rec.Body)
	}
	return e.Error.Code, e.Error.Field
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	listed := accessHandler(t, httpapi.AccessControl{AllowedOrigins: []string{"https://radar.example", "http://localhost:3000"}})
	preflight := func(h http.Handler, path, origin, method, headers string) *httptest.ResponseRecorder {
		return serve(h, call{method: http.MethodOptions, path: path, header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers,
		}})
	}

	rec := preflight(listed, "/api/techs", "https://radar.example", "POST", "content-type,x-api-key,idempotency-key")
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "https://radar.example" {
		t.Fatalf("listed origin: %d %v", rec.Code, rec.Header())
	}
	methods := rec.Header().Get("Access-Control-Allow-Methods")
	if !strings.Contains(methods, "POST") || strings.Contains(methods, "DELETE") || strings.Contains(methods, "PUT") {
		t.Errorf("allowed methods %q, want those of /api/techs only", methods)
	}
	allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"content-type", "authorization", "x-api-key", "idempotency-key", "x-request-id", "traceparent"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("preflight does not allow %s: %q", h, allowed)
		}
	}
	if !strings.Contains(rec.Header().Get("Vary"), "Origin") {
		t.Errorf("no Vary: Origin: %v", rec.Header())
	}

	rec = preflight(listed, "/create", "http://localhost:3000", "POST", "content-type")
	if rec.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("second listed origin on /create: %v", rec.Header())
	}

	for _, origin := range []string{"https://evil.example", "https://radar.example.evil", "http://radar.example"} {
		rec = preflight(listed, "/api/techs", origin, "POST", "content-type")
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("unlisted origin %s allowed as %q", origin, got)
		}
		if rec.Header().Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("unlisted origin %s told the methods", origin)
		}
	}

	anyOrigin := accessHandler(t, httpapi.AccessControl{})
	rec = preflight(anyOrigin, "/api/sms", "https://elsewhere.example", "POST", "content-type")
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("default origins: %v", rec.Header())
	}
}

func TestCORSSimpleRequests(t *testing.T) {
	t.Parallel()
	h := accessHandler(t, httpapi.AccessControl{AllowedOrigins: []string{"https://radar.example"}})

	rec := serve(h, call{method: http.MethodPost, path: "/api/techs", body: `{"name": "Go"}`, header: map[string]string{"Origin": "https://radar.example"}})
	if rec.Code != http.StatusAccepted || rec.Header().Get("Access-Control-Allow-Origin") != "https://radar.example" {
		t.Fatalf("listed origin: %d %v", rec.Code, rec.Header())
	}
	exposed := strings.ToLower(rec.Header().Get("Access-Control-Expose-Headers"))
	for _, header := range []string{"location", "x-request-id", "retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} {
		if !strings.Contains(exposed, header) {
			t.Errorf("%s not exposed: %q", header, exposed)
		}
	}

	// The request is served (CORS is the browser's to enforce), but without
	// the header that would let the page read the answer.
	rec = serve(h, call{method: http.MethodPost, path: "/api/techs", body: `{"name": "Go"}`, header: map[string]string{"Origin": "https://evil.example"}})
	if rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Access-Control-Expose-Headers") != "" {
		t.Errorf("unlisted origin: %v", rec.Header())
	}
}

func TestRateLimitPerClientAddress(t *testing.T) {
	t.Parallel()
	h := accessHandler(t, httpapi.AccessControl{Requests: memoryLimiter(t, limit.Rate{Count: 2, Period: time.Hour})})

	for i := range 2 {
		rec := serve(h, postTech("192.0.2.1:1000"))
		if rec.Code != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", i+1, rec.Code, rec.Body)
		}
		if rec.Header().Get("RateLimit-Limit") != "2" || rec.Header().Get("RateLimit-Remaining") != strconv.Itoa(1-i) || rec.Header().Get("RateLimit-Reset") == "" {
			t.Errorf("request %d: headers %v", i+1, rec.Header())
		}
	}
	rec := serve(h, postTech("192.0.2.1:2000")) // same address, another port
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d %s, want 429", rec.Code, rec.Body)
	}
	if code, _ := errorOf(t, rec); code != "rate_limited" {
		t.Errorf("code %q, want rate_limited", code)
	}
	retryAfter, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || retryAfter < 1 || retryAfter > 1800 {
		t.Errorf("Retry-After %q, want seconds up to half the hour", rec.Header().Get("Retry-After"))
	}
	if rec.Header().Get("RateLimit-Remaining") != "0" || rec.Header().Get("RateLimit-Limit") != "2" {
		t.Errorf("429 headers %v", rec.Header())
	}

	if rec := serve(h, postTech("192.0.2.2:1000")); rec.Code != http.StatusAccepted {
		t.Errorf("another address: %d, want a budget of its own", rec.Code)
	}
	// An IPv6 client is its /64.
	serve(h, postTech("[2001:db8:1:2::1]:1000"))
	serve(h, postTech("[2001:db8:1:2::2]:1000"))
	if rec := serve(h, postTech("[2001:db8:1:2:ffff::3]:1000")); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a third address of one IPv6 /64: %d, want 429", rec.Code)
	}
	if rec := serve(h, postTech("[2001:db8:1:3::1]:1000")); rec.Code != http.StatusAccepted {
		t.Errorf("another IPv6 /64: %d, want a budget of its own", rec.Code)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := serve(h, call{method: http.MethodGet, path: path, peer: "192.0.2.1:1000"})
		if rec.Code != http.StatusOK || rec.Header().Get("RateLimit-Limit") != "" {
			t.Errorf("%s over the limit: %d %v, want 200 uncounted", path, rec.Code, rec.Header())
		}
	}
}

func TestRateLimitPerAPIKey(t *testing.T) {
	t.Parallel()
	h := accessHandler(t, httpapi.AccessControl{Requests: memoryLimiter(t, limit.Rate{Count: 1, Period: time.Hour})})
	alice, bob := &access.Principal{KeyName: "alice"}, &access.Principal{KeyName: "bob"}

	first := postTech("192.0.2.1:1000")
	first.principal = alice
	if rec := serve(h, first); rec.Code != http.StatusAccepted {
		t.Fatalf("alice: %d", rec.Code)
	}
	if rec := serve(h, first); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("alice again: %d, want 429", rec.Code)
	}
	// Same address, another key; and alice from elsewhere is still alice.
	second := postTech("192.0.2.1:1000")
	second.principal = bob
	if rec := serve(h, second); rec.Code != http.StatusAccepted {
		t.Fatalf("bob from alice's address: %d, want a budget of his own", rec.Code)
	}
	moved := postTech("198.51.100.9:1000")
	moved.principal = alice
	if rec := serve(h, moved); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("alice from another address: %d, want 429", rec.Code)
	}
	// The address's own budget, without a key, is untouched.
	if rec := serve(h, postTech("192.0.2.1:1000")); rec.Code != http.StatusAccepted {
		t.Fatalf("no key from alice's address: %d", rec.Code)
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	_, proxy, _ := net.ParseCIDR("203.0.113.10/32")
	one := limit.Rate{Count: 1, Period: time.Hour}
	behindProxy := func(peer, forwardedFor string) call {
		c := postTech(peer)
		c.header = map[string]string{"X-Forwarded-For": forwardedFor}
		return c
	}

	t.Run("the trusted proxy names the client", func(t *testing.T) {
		t.Parallel()
		h := accessHandler(t, httpapi.AccessControl{TrustedProxies: []*net.IPNet{proxy}, Requests: memoryLimiter(t, one)})
		if rec := serve(h, behindProxy("203.0.113.10:5000", "198.51.100.1")); rec.Code != http.StatusAccepted {
			t.Fatalf("first client: %d", rec.Code)
		}
		if rec := serve(h, behindProxy("203.0.113.10:5000", "198.51.100.2")); rec.Code != http.StatusAccepted {
			t.Fatalf("second client through the same proxy: %d, want a budget of its own", rec.Code)
		}
		// A client that forges an address in front of its own is still itself.
		if rec := serve(h, behindProxy("203.0.113.10:5000", "192.0.2.77, 198.51.100.1")); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("first client with a forged hop: %d, want 429", rec.Code)
		}
	})
	t.Run("an untrusted peer is the client, whatever it forwards", func(t *testing.T) {
		t.Parallel()
		h := accessHandler(t, httpapi.AccessControl{TrustedProxies: []*net.IPNet{proxy}, Requests: memoryLimiter(t, one)})
		// 10.0.0.5 is private, and echo would trust it by default: not here.
		for _, peer := range []string{"192.0.2.50:1", "10.0.0.5:1", "127.0.0.1:1"} {
			if rec := serve(h, behindProxy(peer, "198.51.100.1")); rec.Code != http.StatusAccepted {
				t.Fatalf("%s first: %d", peer, rec.Code)
			}
			if rec := serve(h, behindProxy(peer, "198.51.100.2")); rec.Code != http.StatusTooManyRequests {
				t.Fatalf("%s naming another client: %d, want 429: its X-Forwarded-For is not to be believed", peer, rec.Code)
			}
		}
	})
	t.Run("without TRUSTED_PROXIES X-Forwarded-For is ignored", func(t *testing.T) {
		t.Parallel()
		h := accessHandler(t, httpapi.AccessControl{Requests: memoryLimiter(t, one)})
		serve(h, behindProxy("203.0.113.10:5000", "198.51.100.1"))
		if rec := serve(h, behindProxy("203.0.113.10:5000", "198.51.100.2")); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("second forwarded client: %d, want 429", rec.Code)
		}
	})
}

func TestSMSNumberLimit(t *testing.T) {
	t.Parallel()
	h := accessHandler(t, httpapi.AccessControl{SMSPerNumber: memoryLimiter(t, limit.Rate{Count: 2, Period: time.Hour})})
	send := func(path, number, peer string) *httptest.ResponseRecorder {
		return serve(h, call{method: http.MethodPost, path: path, peer: peer, body: `{"number": "` + number + `", "text": "hi"}`})
	}

	if rec := send("/api/sms", "+541112345678", "192.0.2.1:1"); rec.Code != http.StatusAccepted {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	// Another client, the compat route: the same number's budget.
	if rec := send("/sms", "+541112345678", "192.0.2.2:1"); rec.Code != http.StatusOK {
		t.Fatalf("second, on /sms: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/api/sms", "/sms"} {
		rec := send(path, "+541112345678", "192.0.2.3:1")
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("third on %s: %d %s, want 429", path, rec.Code, rec.Body)
		}
		if code, field := errorOf(t, rec); code != "rate_limited" || field != "number" {
			t.Errorf("third on %s: %s on %q, want rate_limited on number", path, code, field)
		}
		if rec.Header().Get("Retry-After") == "" || rec.Header().Get("RateLimit-Limit") != "2" {
			t.Errorf("third on %s: headers %v", path, rec.Header())
		}
	}
	if rec := send("/api/sms", "+541187654321", "192.0.2.3:1"); rec.Code != http.StatusAccepted {
		t.Fatalf("another number: %d", rec.Code)
	}
	// An invalid request is refused for what it is, and not counted.
	if rec := send("/api/sms", "54 11 8765 4321", "192.0.2.3:1"); rec.Code != http.StatusBadRequest {
		t.Fatalf("a number without its country code: %d", rec.Code)
	}
}

// TestLimiterDownLetsRequestsThrough: a Redis that does not answer costs the
// request a bounded wait, not an error.
func TestLimiterDownLetsRequestsThrough(t *testing.T) {
	t.Parallel()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	_ = listener.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	down, err := ratelimit.NewRedis(client, limit.Rate{Count: 1, Period: time.Hour}, "down:")
	if err != nil {
		t.Fatal(err)
	}
	h := accessHandler(t, httpapi.AccessControl{Requests: down, SMSPerNumber: down})
	for range 3 {
		if rec := serve(h, postTech("192.0.2.1:1")); rec.Code != http.StatusAccepted || rec.Header().Get("RateLimit-Limit") != "" {
			t.Fatalf("with the limiter down: %d %v", rec.Code, rec.Header())
		}
		rec := serve(h, call{method: http.MethodPost, path: "/api/sms", peer: "192.0.2.1:1", body: `{"number": "+541112345678", "text": "hi"}`})
		if rec.Code != http.StatusAccepted {
			t.Fatalf("SMS with the limiter down: %d %s", rec.Code, rec.Body)
		}
	}
}
