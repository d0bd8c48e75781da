package service_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/testenv"
	"github.com/techradar/techradar/service"
)

// withRedisLimits is the embedded configuration with the limiters in the
// test's Redis: two services started from it are two processes sharing one
// budget, whatever else they keep to themselves.
func withRedisLimits(t *testing.T) config.Config {
	t.Helper()
	c := embeddedConfig(t)
	opts, prefix := testenv.Redis(t)
	c.Redis.Addr, c.TopicPrefix = opts.Addr, prefix
	return c
}

func TestRateLimitSharedByProcessesThroughRedis(t *testing.T) {
	t.Parallel()
	cfg := withRedisLimits(t)
	cfg.Limits.RateLimit = "3/1h"
	first := start(t, cfg, config.RoleServe)
	cfg.SQLite.Path = cfg.SQLite.Path + ".second"
	second := start(t, cfg, config.RoleServe)

	// Both see the client as 127.0.0.1: one budget of 3 between them.
	for i, app := range []*running{first, second, first} {
		resp := app.do(http.MethodPost, "/api/techs", `{"name": "Kafka"}`, nil)
		if resp.status != http.StatusAccepted || resp.header.Get("RateLimit-Limit") != "3" {
			t.Fatalf("request %d: %d %v", i+1, resp.status, resp.header)
		}
	}
	for name, app := range map[string]*running{"first": first, "second": second} {
		resp := app.do(http.MethodGet, "/api/techs", "", nil)
		if resp.status != http.StatusTooManyRequests || resp.header.Get("Retry-After") == "" {
			t.Fatalf("%s process over the shared budget: %d %v, want 429 with Retry-After", name, resp.status, resp.header)
		}
		if code, _ := resp.errorOf(t); code != "rate_limited" {
			t.Errorf("%s: code %q", name, code)
		}
		if resp := app.get("/healthz"); resp.status != http.StatusOK {
			t.Errorf("%s: /healthz over the limit: %d", name, resp.status)
		}
	}
}

func TestSMSNumberLimitSharedByProcessesThroughRedis(t *testing.T) {
	t.Parallel()
	cfg := withRedisLimits(t)
	cfg.Limits.SMSNumberLimit = "1/1h"
	first := start(t, cfg, config.RoleServe)
	cfg.SQLite.Path = cfg.SQLite.Path + ".second"
	second := start(t, cfg, config.RoleServe)

	if resp := first.do(http.MethodPost, "/api/sms", `{"number": "+541112345678", "text": "one"}`, nil); resp.status != http.StatusAccepted {
		t.Fatalf("first SMS: %d %s", resp.status, resp.body)
	}
	resp := second.do(http.MethodPost, "/sms", `{"number": "+541112345678", "text": "two"}`, nil)
	if resp.status != http.StatusTooManyRequests {
		t.Fatalf("second SMS to the number, through the other process: %d %s", resp.status, resp.body)
	}
	if code, field := resp.errorOf(t); code != "rate_limited" || field != "number" {
		t.Errorf("error %s on %q, want rate_limited on number", code, field)
	}
	if resp := second.do(http.MethodPost, "/api/sms", `{"number": "+541187654321", "text": "three"}`, nil); resp.status != http.StatusAccepted {
		t.Fatalf("another number: %d %s", resp.status, resp.body)
	}
}

// TestRedisDownFallsBackToTheProcess: with the limiters' Redis down or hung
// the API answers rather than fail, each process counting on its own
// meanwhile, and a hung Redis holds a request no longer than the limiter's
// timeout allows; once Redis is back, its budgets are.
func TestRedisDownFallsBackToTheProcess(t *testing.T) {
	t.Parallel()
	for name, takeAway := range map[string]func(*testenv.Proxy){"down": (*testenv.Proxy).Down, "hung": (*testenv.Proxy).Hang} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := withRedisLimits(t)
			proxy := testenv.NewProxy(t, cfg.Redis.Addr)
			cfg.Redis.Addr = proxy.Addr()
			cfg.Limits.RateLimit, cfg.Limits.SMSNumberLimit = "4/1h", "1/1h"
			app := start(t, cfg, config.RoleServe)
			takeAway(proxy)
			// Each request asks its limiters (two for an SMS) within 250 ms:
			// 2 s is a bound on that contract that a loaded machine keeps,
			// where the client's former 1 s timeouts would break it.
			const bound = 2 * time.Second
			for i, step := range []struct {
				path, body string
				want       int
			}{
				{"/api/techs", `{"name": "Kafka"}`, http.StatusAccepted},
				{"/api/sms", `{"number": "+541112345678", "text": "hi"}`, http.StatusAccepted},
				{"/api/sms", `{"number": "+541112345678", "text": "again"}`, http.StatusTooManyRequests},
				{"/api/techs", `{"name": "Kafka"}`, http.StatusAccepted},
				{"/api/techs", `{"name": "Kafka"}`, http.StatusTooManyRequests},
			} {
				began := time.Now()
				resp := app.do(http.MethodPost, step.path, step.body, nil)
				if took := time.Since(began); took > bound {
					t.Errorf("request %d with Redis %s took %v, over %v", i+1, name, took, bound)
				}
				if resp.status != step.want {
					t.Fatalf("request %d (%s) with Redis %s: %d %s, want %d", i+1, step.path, name, resp.status, resp.body, step.want)
				}
			}
			proxy.Up()
			// The process's budget is spent for the hour; Redis's is whole.
			eventually(t, 30*time.Second, func() bool {
				return app.do(http.MethodGet, "/api/techs", "", nil).status == http.StatusOK
			}, "the budgets in Redis apply again once Redis is back")
		})
	}
}

func TestAdminListener(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	cfg.Limits.AdminAddr = "127.0.0.1:0"
	app := start(t, cfg, config.RoleServe)
	app.postTech("Kafka", nil)

	admin := app.svc.AdminAddr()
	if admin == "" || admin == app.svc.HTTPAddr() {
		t.Fatalf("admin address %q (API on %s)", admin, app.svc.HTTPAddr())
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for path, want := range map[string]string{
		"/metrics":                       "techradar_http_requests_total",
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
	} {
		resp, err := client.Get("http://" + admin + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET admin %s: %d, want 200 with %q", path, resp.StatusCode, want)
		}
	}
	// The API's listener keeps its metrics, and serves no profiles.
	if resp := app.get("/metrics"); resp.status != http.StatusOK {
		t.Errorf("public /metrics: %d", resp.status)
	}
	if resp := app.get("/debug/pprof/"); resp.status != http.StatusNotFound {
		t.Errorf("public /debug/pprof/: %d, want 404", resp.status)
	}

	app.stop()
	if _, err := client.Get("http://" + admin + "/metrics"); err == nil {
		t.Error("the admin listener still answers after Close")
	}
}

func TestAdminAddrInUseFailsStart(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = taken.Close() })
	cfg := embeddedConfig(t)
	cfg.Limits.AdminAddr = taken.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := service.New(ctx, cfg, config.RoleServe, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Start(ctx)
	_ = svc.Close()
	if err == nil || !strings.Contains(err.Error(), "ADMIN_ADDR") {
		t.Fatalf("Start with ADMIN_ADDR taken: %v, want an error naming ADMIN_ADDR", err)
	}
}
