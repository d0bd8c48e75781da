package service_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/config"
)

func TestAPIEmbedded(t *testing.T) {
	t.Parallel()
	app := start(t, embeddedConfig(t), config.RoleServe)

	t.Run("health", func(t *testing.T) {
		if resp := app.get("/healthz"); resp.status != http.StatusOK {
			t.Fatalf("/healthz: %d %s", resp.status, resp.body)
		}
		resp := app.get("/readyz")
		if resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"store (sqlite)"`) {
			t.Fatalf("/readyz: %d %s", resp.status, resp.body)
		}
	})

	t.Run("mention, read through the cache, invalidate", func(t *testing.T) {
		a := app.postTech("Apache Kafka", nil)
		report := app.waitProcessed(a.CommandID)
		if report.Status != "processed" || report.TechID == "" {
			t.Fatalf("command = %+v", report)
		}

		first := app.list("")
		kafka, ok := find(first, "Apache Kafka")
		if !ok || kafka.Mentions != 1 || kafka.Priority != "low" || kafka.ID != report.TechID {
			t.Fatalf("list = %+v", first)
		}
		for _, ts := range []string{kafka.CreatedAt, kafka.UpdatedAt} {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				t.Fatalf("time %q is not RFC 3339: %v", ts, err)
			}
		}
		// The mention's event may still be on its way and invalidate the list
		// once more; after that, an unchanged list is served from the cache.
		eventually(t, 10*time.Second, func() bool { return app.list("").IsCached },
			"reads of an unchanged list never came from the cache")

		// Another spelling is another mention of the same tech; its event
		// invalidates the cache, so the next read comes from the store.
		app.waitProcessed(app.postTech("  apache   KAFKA ", nil).CommandID)
		var after techList
		eventually(t, 10*time.Second, func() bool {
			after = app.list("")
			k, _ := find(after, "Apache Kafka")
			return k.Mentions == 2
		}, "the second mention never showed")
		if after.IsCached {
			t.Fatal("the first read after an invalidation claims to be cached")
		}
		if again := app.list(""); !again.IsCached {
			t.Fatal("the cache did not fill again")
		}

		byID := app.get("/api/techs/" + kafka.ID)
		var one techJSON
		byID.json(t, &one)
		if byID.status != http.StatusOK || one.Mentions != 2 || one.Name != "Apache Kafka" {
			t.Fatalf("GET /api/techs/%s: %d %s", kafka.ID, byID.status, byID.body)
		}
	})

	t.Run("priority follows mentions", func(t *testing.T) {
		for range 3 {
			app.waitProcessed(app.postTech("Go", nil).CommandID)
		}
		eventually(t, 10*time.Second, func() bool {
			g, _ := find(app.list(""), "Go")
			return g.Mentions == 3 && g.Priority == "medium"
		}, "Go never reached medium priority")
	})

	t.Run("idempotency key applies a retried POST once", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "retry-me-" + time.Now().Format(time.RFC3339Nano)}
		first := app.postTech("Idempotent", key)
		second := app.postTech("Idempotent", key)
		if first.CommandID != key["Idempotency-Key"] || second.CommandID != first.CommandID {
			t.Fatalf("command ids %s, %s; want the key", first.CommandID, second.CommandID)
		}
		app.waitProcessed(first.CommandID)
		eventually(t, 10*time.Second, func() bool {
			x, ok := find(app.list(""), "Idempotent")
			return ok && x.Mentions == 1
		}, "the idempotent tech is missing or was counted twice")
		tech, _ := find(app.list(""), "Idempotent")
		// After processing, a retry (the same tech however spelt) is told the tech.
		if got := app.postTech(" idempotent ", key); got.Status != "processed" || got.TechID != tech.ID {
			t.Fatalf("a retry after processing reports %+v, want the tech %s", got, tech.ID)
		}

		resp := app.do("POST", "/api/techs", `{"name": "Not Idempotent"}`, key)
		if code, field := resp.errorOf(t); resp.status != http.StatusUnprocessableEntity || code != "idempotency_key_reused" || field != "Idempotency-Key" {
			t.Fatalf("the key of another tech: %d %s", resp.status, resp.body)
		}

		// The key names a command per route family: an SMS under it is another command.
		sms := app.do("POST", "/api/sms", `{"number": "+541112345678", "text": "scoped"}`, key)
		var queued struct {
			ID string `json:"id"`
		}
		sms.json(t, &queued)
		if sms.status != http.StatusAccepted || queued.ID == first.CommandID {
			t.Fatalf("an SMS under a tech's key: %d %s", sms.status, sms.body)
		}
		if c := app.command(first.CommandID); c.Status != "processed" {
			t.Fatalf("the tech's command after an SMS under its key: %+v", c)
		}
	})

	t.Run("concurrent posts all count", func(t *testing.T) {
		const n = 40
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { app.postTech("Concurrent", nil) })
		}
		wg.Wait()
		eventually(t, 20*time.Second, func() bool {
			c, _ := find(app.list(""), "Concurrent")
			return c.Mentions == n
		}, "concurrent mentions were lost")
	})

	t.Run("unknown things are 404", func(t *testing.T) {
		for _, path := range []string{"/api/techs/no-such-tech", "/api/commands/no-such-command", "/api/nothing", "/nothing"} {
			resp := app.get(path)
			if resp.status != http.StatusNotFound {
				t.Fatalf("GET %s: %d %s", path, resp.status, resp.body)
			}
			if code, _ := resp.errorOf(t); code != "not_found" {
				t.Fatalf("GET %s: code %q", path, code)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		longKey := strings.Repeat("k", 65)
		tests := []struct {
			name      string
			method    string
			path      string
			body      string
			header    map[string]string
			wantCode  int
			wantField string
		}{
			{"empty name", "POST", "/api/techs", `{"name": ""}`, nil, 400, "name"},
			{"blank name", "POST", "/api/techs", `{"name": " \t "}`, nil, 400, "name"},
			{"long name", "POST", "/api/techs", `{"name": "` + strings.Repeat("x", 101) + `"}`, nil, 400, "name"},
			{"control character", "POST", "/api/techs", `{"name": "a\u0007b"}`, nil, 400, "name"},
			{"name missing", "POST", "/api/techs", `{}`, nil, 400, "name"},
			{"name null", "POST", "/api/techs", `{"name": null}`, nil, 400, "name"},
			{"name not a string", "POST", "/api/techs", `{"name": 42}`, nil, 400, "name"},
			{"unknown field", "POST", "/api/techs", `{"name": "x", "colour": "red"}`, nil, 400, "colour"},
			{"malformed JSON", "POST", "/api/techs", `{"name": "x"`, nil, 400, ""},
			{"not an object", "POST", "/api/techs", `["x"]`, nil, 400, ""},
			{"two objects", "POST", "/api/techs", `{"name": "x"} {"name": "y"}`, nil, 400, ""},
			{"not JSON", "POST", "/api/techs", `{"name": "x"}`, map[string]string{"Content-Type": "text/plain"}, 415, ""},
			{"no content type", "POST", "/api/techs", `{"name": "x"}`, map[string]string{"Content-Type": ""}, 415, ""},
			{"body too large", "POST", "/api/techs", `{"name": "` + strings.Repeat("x", 17<<10) + `"}`, nil, 413, ""},
			{"idempotency key too long", "POST", "/api/techs", `{"name": "x"}`, map[string]string{"Idempotency-Key": longKey}, 400, "Idempotency-Key"},
			{"idempotency key not ASCII", "POST", "/api/techs", `{"name": "x"}`, map[string]string{"Idempotency-Key": "clé"}, 400, "Idempotency-Key"},
			{"limit not a number", "GET", "/api/techs?limit=ten", "", nil, 400, "limit"},
			{"limit zero", "GET", "/api/techs?limit=0", "", nil, 400, "limit"},
			{"limit too large", "GET", "/api/techs?limit=501", "", nil, 400, "limit"},
			{"cursor forged", "GET", "/api/techs?cursor=abc", "", nil, 400, "cursor"},
			{"method not allowed", "DELETE", "/api/techs", "", nil, 405, ""},
			{"method not allowed on a tech", "PUT", "/api/techs/x", "", nil, 405, ""},
			{"compat text missing", "POST", "/create", `{}`, nil, 400, "text"},
			{"compat text empty", "POST", "/create", `{"text": ""}`, nil, 400, "text"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := app.do(tt.method, tt.path, tt.body, tt.header)
				if resp.status != tt.wantCode {
					t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, resp.status, compact(resp.body), tt.wantCode)
				}
				if _, field := resp.errorOf(t); field != tt.wantField {
					t.Fatalf("field %q, want %q: %s", field, tt.wantField, resp.body)
				}
			})
		}
	})

	t.Run("compatibility routes", func(t *testing.T) {
		resp := app.do("POST", "/create", `{"text": "Express"}`, nil)
		if resp.status != http.StatusCreated || compact(resp.body) != `{"message":"Tech List created successfully"}` {
			t.Fatalf("POST /create: %d %s", resp.status, resp.body)
		}
		var list struct {
			IsCached bool `json:"isCached"`
			Data     []struct {
				ID   string `json:"id"`
				Text string `json:"text"`
			} `json:"data"`
		}
		eventually(t, 10*time.Second, func() bool {
			got := app.get("/get")
			if got.status != http.StatusOK {
				t.Fatalf("GET /get: %d %s", got.status, got.body)
			}
			got.json(t, &list)
			for _, item := range list.Data {
				if item.Text == "Express - priority (low)" && item.ID != "" {
					return true
				}
			}
			return false
		}, "GET /get does not list Express")
	})
}

func TestAPIPagination(t *testing.T) {
	t.Parallel()
	app := start(t, embeddedConfig(t), config.RoleServe)

	names := []string{"A", "B", "C", "D", "E"}
	for i, name := range names {
		for range i + 1 {
			app.postTech(name, nil)
		}
	}
	want := []string{"E", "D", "C", "B", "A"} // E has 5 mentions (medium), A has 1
	eventually(t, 10*time.Second, func() bool { return len(app.list("").Data) == len(names) }, "not every tech is listed")

	var got []string
	path := "?limit=2"
	for page := 0; ; page++ {
		l := app.list(path)
		if len(l.Data) > 2 {
			t.Fatalf("page %d has %d techs", page, len(l.Data))
		}
		for _, tech := range l.Data {
			got = append(got, tech.Name)
		}
		if l.NextCursor == nil {
			break
		}
		if page > 5 {
			t.Fatal("the cursor never ends")
		}
		path = "?limit=2&cursor=" + *l.NextCursor
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("paged order %v, want %v", got, want)
	}
}

func TestEmbeddedDataSurvivesRestart(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)

	first := start(t, cfg, config.RoleServe)
	a := first.postTech("Durable", nil)
	first.waitProcessed(a.CommandID)
	first.stop()

	second := start(t, cfg, config.RoleServe)
	report := second.waitProcessed(a.CommandID)
	resp := second.get("/api/techs/" + report.TechID)
	var tech techJSON
	resp.json(t, &tech)
	if resp.status != http.StatusOK || tech.Name != "Durable" || tech.Mentions != 1 {
		t.Fatalf("after a restart: %d %s", resp.status, resp.body)
	}
	body, _ := json.Marshal(tech)
	t.Logf("kept across a restart: %s", body)
}
