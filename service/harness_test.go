package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/correlation"
	"github.com/techradar/techradar/service"
)

// embeddedConfig is the default configuration on a free port and a private file.
func embeddedConfig(t *testing.T) config.Config {
	t.Helper()
	c := config.Default()
	c.HTTP.Addr = "127.0.0.1:0"
	c.SQLite.Path = filepath.Join(t.TempDir(), "techradar.db")
	c.Outbox.PollInterval = 50 * time.Millisecond
	return c
}

// running is one started service and a client for its HTTP API.
type running struct {
	t       *testing.T
	svc     *service.Service
	baseURL string
}

// start runs the real service in role and stops it when the test ends.
func start(t *testing.T, cfg config.Config, role config.Role) *running {
	t.Helper()
	if err := cfg.Validate(role); err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	logger := slog.New(correlation.NewLogHandler(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel})))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	svc, err := service.New(ctx, cfg, role, logger)
	if err != nil {
		t.Fatalf("service.New: %v", err)
	}
	if err := svc.Start(ctx); err != nil {
		_ = svc.Close()
		t.Fatalf("Start: %v", err)
	}
	r := &running{t: t, svc: svc, baseURL: "http://" + svc.HTTPAddr()}
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) stop() {
	if err := r.svc.Close(); err != nil {
		r.t.Errorf("Close: %v", err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(r.body, into); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

// errorOf decodes the error body every failure must have.
func (r response) errorOf(t *testing.T) (code, field string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	r.json(t, &body)
	if body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("error body without code or message: %s", r.body)
	}
	return body.Error.Code, body.Error.Field
}

func (r *running) do(method, path string, body string, header map[string]string) response {
	r.t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.baseURL+path, reader)
	if err != nil {
		r.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func (r *running) get(path string) response { r.t.Helper(); return r.do(http.MethodGet, path, "", nil) }

type accepted struct {
	CommandID string `json:"commandId"`
	Status    string `json:"status"`
	TechID    string `json:"techId"`
}

// postTech submits one mention and checks it was accepted.
func (r *running) postTech(name string, header map[string]string) accepted {
	r.t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	resp := r.do(http.MethodPost, "/api/techs", string(body), header)
	if resp.status != http.StatusAccepted {
		r.t.Fatalf("POST /api/techs %s: %d %s", name, resp.status, resp.body)
	}
	var a accepted
	resp.json(r.t, &a)
	if a.CommandID == "" || a.Status == "" || resp.header.Get("Location") != "/api/commands/"+a.CommandID {
		r.t.Fatalf("accepted = %+v, Location %q", a, resp.header.Get("Location"))
	}
	return a
}

type techJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Mentions  int    `json:"mentions"`
	Priority  string `json:"priority"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

type techList struct {
	IsCached   bool       `json:"isCached"`
	Data       []techJSON `json:"data"`
	NextCursor *string    `json:"nextCursor"`
}

func (r *running) list(query string) techList {
	r.t.Helper()
	resp := r.get("/api/techs" + query)
	if resp.status != http.StatusOK {
		r.t.Fatalf("GET /api/techs%s: %d %s", query, resp.status, resp.body)
	}
	var l techList
	resp.json(r.t, &l)
	return l
}

type commandJSON struct {
	CommandID string `json:"commandId"`
	Status    string `json:"status"`
	TechID    string `json:"techId"`
	Error     string `json:"error"`
}

// waitProcessed polls the command until it is known and no longer pending. A
// command put on the transport directly, not through the API, is unknown until
// its handler runs.
func (r *running) waitProcessed(id string) commandJSON {
	r.t.Helper()
	var c commandJSON
	eventually(r.t, 20*time.Second, func() bool {
		c = r.command(id)
		return c.Status != "pending" && c.Status != ""
	}, "command "+id+" still pending or unknown")
	return c
}

// command is the command's report; its Status is "" while the command is unknown.
func (r *running) command(id string) commandJSON {
	r.t.Helper()
	resp := r.get("/api/commands/" + id)
	if resp.status == http.StatusNotFound {
		return commandJSON{CommandID: id}
	}
	if resp.status != http.StatusOK {
		r.t.Fatalf("GET /api/commands/%s: %d %s", id, resp.status, resp.body)
	}
	var c commandJSON
	resp.json(r.t, &c)
	return c
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func find(l techList, name string) (techJSON, bool) {
	for _, t := range l.Data {
		if t.Name == name {
			return t, true
		}
	}
	return techJSON{}, false
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// waitProcessedWithin reports the command after waiting up to d for it to leave
// pending; unlike waitProcessed it does not fail when it stays pending.
func (r *running) waitProcessedWithin(id string, d time.Duration) commandJSON {
	r.t.Helper()
	var c commandJSON
	deadline := time.Now().Add(d)
	for {
		c = r.command(id)
		if c.Status != "pending" || time.Now().After(deadline) {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testLogLevel is how much of the services' logs a test shows: warnings, or
// everything with TECHRADAR_TEST_DEBUG=1.
var testLogLevel = func() slog.Level {
	if os.Getenv("TECHRADAR_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}()
