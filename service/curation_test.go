package service_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/testenv"
)

// curatedTech is a tech as GET /api/techs/{id} shows it, curation included.
type curatedTech struct {
	techJSON
	Status        string  `json:"status"`
	RetiredAt     *string `json:"retiredAt"`
	RetiredReason string  `json:"retiredReason"`
	MergedInto    string  `json:"mergedInto"`
	MergedAt      *string `json:"mergedAt"`
}

func (r *running) techByID(id string) curatedTech {
	r.t.Helper()
	resp := r.get("/api/techs/" + id)
	if resp.status != http.StatusOK {
		r.t.Fatalf("GET /api/techs/%s: %d %s", id, resp.status, resp.body)
	}
	var c curatedTech
	resp.json(r.t, &c)
	return c
}

// mentioned posts name n times and returns the tech's id.
func (r *running) mentioned(name string, n int) string {
	r.t.Helper()
	var report commandJSON
	for range n {
		report = r.waitProcessed(r.postTech(name, nil).CommandID)
	}
	return report.TechID
}

// curate posts a curator's command and checks it was accepted.
func (r *running) curate(path, body string) accepted {
	r.t.Helper()
	resp := r.do(http.MethodPost, path, body, nil)
	if resp.status != http.StatusAccepted {
		r.t.Fatalf("POST %s: %d %s", path, resp.status, resp.body)
	}
	var a accepted
	resp.json(r.t, &a)
	if a.CommandID == "" || resp.header.Get("Location") != "/api/commands/"+a.CommandID {
		r.t.Fatalf("accepted = %+v, Location %q", a, resp.header.Get("Location"))
	}
	return a
}

// TestCurationOnEveryTransport retires and merges techs through the API on
// each transport: each command applied once, the list following them, and a
// merged name counting for its target.
func TestCurationOnEveryTransport(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			app := start(t, b.config(t), config.RoleServe)
			old := app.mentioned("CVS", 1)
			dup := app.mentioned("Postgres", 2)
			target := app.mentioned("PostgreSQL", 2)

			retired := app.curate("/api/techs/"+old+"/retire", `{"reason": "nobody uses it"}`)
			if report := app.waitProcessed(retired.CommandID); report.Status != "processed" || report.TechID != old {
				t.Fatalf("retire: %+v", report)
			}
			eventually(t, 10*time.Second, func() bool { _, ok := find(app.list(""), "CVS"); return !ok }, "the retired tech stays in the list")
			got := app.techByID(old)
			if got.Status != "retired" || got.RetiredReason != "nobody uses it" || got.RetiredAt == nil {
				t.Fatalf("retired tech: %+v", got)
			}
			// Twice is harmless; without a body too.
			if report := app.waitProcessed(app.curate("/api/techs/"+old+"/retire", "").CommandID); report.Status != "processed" {
				t.Fatalf("second retire: %+v", report)
			}
			if again := app.techByID(old); again.RetiredReason != "nobody uses it" {
				t.Fatalf("a second retire changed the tech: %+v", again)
			}

			merged := app.curate("/api/techs/"+dup+"/merge", `{"into": "`+target+`"}`)
			if report := app.waitProcessed(merged.CommandID); report.Status != "processed" || report.TechID != target {
				t.Fatalf("merge: %+v", report)
			}
			eventually(t, 10*time.Second, func() bool {
				l := app.list("")
				_, dupListed := find(l, "Postgres")
				tg, _ := find(l, "PostgreSQL")
				return !dupListed && tg.Mentions == 4 && tg.Priority == "medium"
			}, "the list never showed the merge")
			if d := app.techByID(dup); d.Status != "merged" || d.MergedInto != target {
				t.Fatalf("merged tech: %+v", d)
			}

			// The duplicate's name is an alias of the target now.
			if report := app.waitProcessed(app.postTech("postgres", nil).CommandID); report.TechID != target {
				t.Fatalf("a mention of the alias: %+v", report)
			}
			eventually(t, 10*time.Second, func() bool {
				tg, _ := find(app.list(""), "PostgreSQL")
				return tg.Mentions == 5
			}, "the alias's mention never counted for the target")
		})
	}
}

// TestCurationBadInput: every mistake the API can tell at once is answered
// at once, in the JSON error shape.
func TestCurationBadInput(t *testing.T) {
	t.Parallel()
	app := start(t, embeddedConfig(t), config.RoleServe)
	kafka := app.mentioned("Kafka", 1)
	gone := app.mentioned("Gone", 1)
	app.waitProcessed(app.curate("/api/techs/"+gone+"/retire", "").CommandID)

	long := strings.Repeat("x", 501)
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		status           int
		code, field      string
	}{
		{"bad JSON", "/api/techs/" + kafka + "/merge", `{"into":`, nil, 400, "malformed_json", ""},
		{"unknown field", "/api/techs/" + kafka + "/merge", `{"into": "x", "onto": "y"}`, nil, 400, "invalid", "onto"},
		{"into missing", "/api/techs/" + kafka + "/merge", `{}`, nil, 400, "invalid", "into"},
		{"into not a string", "/api/techs/" + kafka + "/merge", `{"into": 3}`, nil, 400, "invalid", "into"},
		{"into itself", "/api/techs/" + kafka + "/merge", `{"into": "` + kafka + `"}`, nil, 400, "invalid", "into"},
		{"into unknown", "/api/techs/" + kafka + "/merge", `{"into": "no-such-tech"}`, nil, 400, "invalid", "into"},
		{"into retired", "/api/techs/" + kafka + "/merge", `{"into": "` + gone + `"}`, nil, 400, "invalid", "into"},
		{"merge unknown", "/api/techs/no-such-tech/merge", `{"into": "` + kafka + `"}`, nil, 404, "not_found", ""},
		{"merge not JSON", "/api/techs/" + kafka + "/merge", `into=x`, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", ""},
		{"retire unknown", "/api/techs/no-such-tech/retire", "", nil, 404, "not_found", ""},
		{"retire bad JSON", "/api/techs/" + kafka + "/retire", `{"reason"`, nil, 400, "malformed_json", ""},
		{"retire unknown field", "/api/techs/" + kafka + "/retire", `{"why": "x"}`, nil, 400, "invalid", "why"},
		{"reason too long", "/api/techs/" + kafka + "/retire", `{"reason": "` + long + `"}`, nil, 400, "invalid", "reason"},
		{"reason not a string", "/api/techs/" + kafka + "/retire", `{"reason": 1}`, nil, 400, "invalid", "reason"},
		{"bad idempotency key", "/api/techs/" + kafka + "/retire", "", map[string]string{"Idempotency-Key": strings.Repeat("k", 65)}, 400, "invalid", "Idempotency-Key"},
	} {
		resp := app.do(http.MethodPost, tc.path, tc.body, tc.header)
		if resp.status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, resp.status, resp.body, tc.status)
		}
		if code, field := resp.errorOf(t); code != tc.code || field != tc.field {
			t.Fatalf("%s: error %s on %q, want %s on %q", tc.name, code, field, tc.code, tc.field)
		}
	}
	if got := app.techByID(kafka); got.Status != "active" || got.Mentions != 1 {
		t.Fatalf("refused requests changed the tech: %+v", got)
	}

	// The same Idempotency-Key is one retirement; another body under it is 422.
	key := map[string]string{"Idempotency-Key": "retire-kafka"}
	first := app.do(http.MethodPost, "/api/techs/"+kafka+"/retire", `{"reason": "a"}`, key)
	retry := app.do(http.MethodPost, "/api/techs/"+kafka+"/retire", `{"reason": "a"}`, key)
	var a, b accepted
	first.json(t, &a)
	retry.json(t, &b)
	if first.status != http.StatusAccepted || retry.status != http.StatusAccepted || a.CommandID != b.CommandID {
		t.Fatalf("retried retirement: %d %s, %d %s", first.status, first.body, retry.status, retry.body)
	}
	if other := app.do(http.MethodPost, "/api/techs/"+kafka+"/retire", `{"reason": "b"}`, key); other.status != http.StatusUnprocessableEntity {
		t.Fatalf("another body under the key: %d %s", other.status, other.body)
	}
}

// TestPolicyChangeReranks restarts the service with other thresholds: every
// stored tech is ranked again, and /api/policy says what is in force.
func TestPolicyChangeReranks(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)

	first := start(t, cfg, config.RoleServe)
	first.mentioned("Kafka", 3)
	first.mentioned("Redis", 1)
	type policyView struct {
		MediumAt  int  `json:"mediumAt"`
		HighAt    int  `json:"highAt"`
		Reranking bool `json:"reranking"`
	}
	var policy policyView
	eventually(t, 20*time.Second, func() bool {
		policy = policyView{}
		first.get("/api/policy").json(t, &policy)
		return !policy.Reranking
	}, "the first start never recorded its policy")
	if policy.MediumAt != 3 || policy.HighAt != 10 {
		t.Fatalf("default policy = %+v", policy)
	}
	if k, _ := find(first.list(""), "Kafka"); k.Priority != "medium" {
		t.Fatalf("Kafka under the default policy: %+v", k)
	}
	first.stop()

	cfg.Priority.MediumAt, cfg.Priority.HighAt = 1, 3
	second := start(t, cfg, config.RoleServe)
	// The answer is the old policy or the new one being re-ranked to, then
	// the new one once the stored techs follow it.
	eventually(t, 20*time.Second, func() bool {
		resp := second.get("/api/policy")
		policy = policyView{}
		resp.json(t, &policy)
		if resp.status != http.StatusOK {
			t.Fatalf("GET /api/policy: %d %s", resp.status, resp.body)
		}
		switch policy {
		case policyView{MediumAt: 1, HighAt: 3}:
			return true
		case policyView{MediumAt: 3, HighAt: 10}, policyView{MediumAt: 1, HighAt: 3, Reranking: true}:
			return false
		}
		t.Fatalf("GET /api/policy: %s", resp.body)
		return false
	}, "GET /api/policy never answered the new policy")
	l := second.list("")
	k, _ := find(l, "Kafka")
	r, _ := find(l, "Redis")
	if k.Priority != "high" || r.Priority != "medium" {
		t.Fatalf("the new policy is in force but Kafka %+v, Redis %+v", k, r)
	}
}

// TestCurationCommandFailsOnAMissingTech puts a RetireTech and a MergeTech
// that the API would have refused on the transport, as a command accepted
// just before its tech went away: each fails with a clear reason, once, and
// the messages behind them are handled.
func TestCurationCommandFailsOnAMissingTech(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	app := start(t, cfg, config.RoleServe)
	kafka := app.mentioned("Kafka", 1)

	curationMessage := func(name, payload string) *message.Message {
		msg := message.NewMessage(testenv.UniqueName("uuid-"), []byte(payload))
		msg.Metadata.Set("name", name)
		return msg
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	pub := app.svc.Publisher()
	if err := pub.Publish(cfg.TopicPrefix+".commands.RetireTech",
		curationMessage("RetireTech", fmt.Sprintf(`{"commandId":"retire-missing","techId":"no-such-tech","requestedAt":%q}`, now))); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(cfg.TopicPrefix+".commands.MergeTech",
		curationMessage("MergeTech", fmt.Sprintf(`{"commandId":"merge-missing","techId":%q,"intoId":"no-such-tech","requestedAt":%q}`, kafka, now)),
		curationMessage("MergeTech", fmt.Sprintf(`{"commandId":"merge-self","techId":%q,"intoId":%q,"requestedAt":%q}`, kafka, kafka, now))); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"retire-missing": `no tech with id "no-such-tech"`,
		"merge-missing":  `no tech with id "no-such-tech"`,
		"merge-self":     "cannot be merged into itself",
	} {
		report := app.waitProcessed(id)
		if report.Status != "failed" || !strings.Contains(report.Error, want) {
			t.Fatalf("%s: %+v, want failed with %q", id, report, want)
		}
	}
	if got := app.techByID(kafka); got.Status != "active" || got.Mentions != 1 {
		t.Fatalf("failed commands changed the tech: %+v", got)
	}
}
