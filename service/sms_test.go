package service_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/testenv"
)

type smsAcceptedJSON struct {
	ID     string `json:"id"`
	Number string `json:"number"`
	Text   string `json:"text"`
	Status string `json:"status"`
}

type smsJSON struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	Attempts          int    `json:"attempts"`
	ProviderMessageID string `json:"providerMessageId"`
	Error             string `json:"error"`
}

// postSMS submits one SMS and checks it was accepted.
func (r *running) postSMS(number, text string, header map[string]string) smsAcceptedJSON {
	r.t.Helper()
	body, _ := json.Marshal(map[string]string{"number": number, "text": text})
	resp := r.do(http.MethodPost, "/api/sms", string(body), header)
	if resp.status != http.StatusAccepted {
		r.t.Fatalf("POST /api/sms %s: %d %s", number, resp.status, resp.body)
	}
	var a smsAcceptedJSON
	resp.json(r.t, &a)
	if a.ID == "" || a.Number != number || a.Text != text || a.Status == "" || resp.header.Get("Location") != "/api/sms/"+a.ID {
		r.t.Fatalf("accepted = %+v, Location %q", a, resp.header.Get("Location"))
	}
	return a
}

func (r *running) sms(id string) smsJSON {
	r.t.Helper()
	resp := r.get("/api/sms/" + id)
	if resp.status != http.StatusOK {
		r.t.Fatalf("GET /api/sms/%s: %d %s", id, resp.status, resp.body)
	}
	var s smsJSON
	resp.json(r.t, &s)
	return s
}

// waitSMS polls the SMS until it is sent or failed.
func (r *running) waitSMS(id string) smsJSON {
	r.t.Helper()
	var s smsJSON
	eventually(r.t, 30*time.Second, func() bool {
		s = r.sms(id)
		return s.Status != "queued"
	}, "SMS "+id+" still queued")
	return s
}

// sendSMSMessage is a SendSMS as the command bus would publish it.
func sendSMSMessage(id string) *message.Message {
	msg := message.NewMessage(testenv.UniqueName("uuid-"), []byte(fmt.Sprintf(
		`{"commandId":%q,"requestedAt":%q}`, id, time.Now().UTC().Format(time.RFC3339Nano))))
	msg.Metadata.Set("name", "SendSMS")
	return msg
}

func TestSMSAPIEmbedded(t *testing.T) {
	t.Parallel()
	app := start(t, embeddedConfig(t), config.RoleServe)

	t.Run("send, then read what became of it", func(t *testing.T) {
		accepted := app.postSMS("+541112345678", "Your code is 1234", nil)
		// The in-process transport has sent it by the time the API answers.
		if accepted.Status != "sent" {
			t.Fatalf("accepted = %+v", accepted)
		}
		got := app.waitSMS(accepted.ID)
		if got.ID != accepted.ID || got.Status != "sent" || got.Attempts != 1 || !strings.HasPrefix(got.ProviderMessageID, "fake-") || got.Error != "" {
			t.Fatalf("SMS = %+v", got)
		}
		// The longest text, of characters four bytes long each.
		long := app.postSMS("+12345678", strings.Repeat("😀", 1600), nil)
		if got := app.waitSMS(long.ID); got.Status != "sent" {
			t.Fatalf("SMS of 1600 characters = %+v", got)
		}
	})

	t.Run("an idempotency key sends one SMS", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "sms-" + time.Now().Format(time.RFC3339Nano)}
		first := app.postSMS("+541112345678", "once", key)
		second := app.postSMS("+541112345678", "once", key)
		if second.ID != first.ID {
			t.Fatalf("ids %s, %s; want one SMS", first.ID, second.ID)
		}
		if got := app.waitSMS(first.ID); got.Status != "sent" || got.Attempts != 1 {
			t.Fatalf("SMS = %+v", got)
		}
		resp := app.do("POST", "/api/sms", `{"number": "+541112345678", "text": "another text"}`, key)
		if code, field := resp.errorOf(t); resp.status != http.StatusUnprocessableEntity || code != "idempotency_key_reused" || field != "Idempotency-Key" {
			t.Fatalf("the key of another SMS: %d %s", resp.status, resp.body)
		}
		// The same key names another command on /api/techs.
		if tech := app.postTech("Scoped", key); tech.CommandID != key["Idempotency-Key"] || tech.CommandID == first.ID {
			t.Fatalf("a tech under an SMS's key = %+v", tech)
		}
		if got := app.waitSMS(first.ID); got.Status != "sent" || got.Attempts != 1 {
			t.Fatalf("the SMS after a tech under its key: %+v", got)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name      string
			path      string
			body      string
			header    map[string]string
			wantCode  int
			wantField string
		}{
			{"number missing", "/api/sms", `{"text": "hi"}`, nil, 400, "number"},
			{"number null", "/api/sms", `{"number": null, "text": "hi"}`, nil, 400, "number"},
			{"number not a string", "/api/sms", `{"number": 541112345678, "text": "hi"}`, nil, 400, "number"},
			{"number empty", "/api/sms", `{"number": "", "text": "hi"}`, nil, 400, "number"},
			{"number without +", "/api/sms", `{"number": "541112345678", "text": "hi"}`, nil, 400, "number"},
			{"number starting with 0", "/api/sms", `{"number": "+0541112345", "text": "hi"}`, nil, 400, "number"},
			{"number too short", "/api/sms", `{"number": "+1234567", "text": "hi"}`, nil, 400, "number"},
			{"number too long", "/api/sms", `{"number": "+1234567890123456", "text": "hi"}`, nil, 400, "number"},
			{"number with a letter", "/api/sms", `{"number": "+54 11 1234 567a", "text": "hi"}`, nil, 400, "number"},
			{"number with a slash", "/api/sms", `{"number": "+54/11/1234/5678", "text": "hi"}`, nil, 400, "number"},
			{"number spaced without +", "/api/sms", `{"number": "54 11 1234 5678", "text": "hi"}`, nil, 400, "number"},
			{"compat number with a letter", "/sms", `{"number": "+54 11 1234 567a", "text": "hi"}`, nil, 400, "number"},
			{"text missing", "/api/sms", `{"number": "+541112345678"}`, nil, 400, "text"},
			{"text empty", "/api/sms", `{"number": "+541112345678", "text": ""}`, nil, 400, "text"},
			{"text blank", "/api/sms", `{"number": "+541112345678", "text": " \n "}`, nil, 400, "text"},
			{"text too long", "/api/sms", `{"number": "+541112345678", "text": "` + strings.Repeat("x", 1601) + `"}`, nil, 400, "text"},
			{"text with a control character", "/api/sms", `{"number": "+541112345678", "text": "a\u0007b"}`, nil, 400, "text"},
			{"text not a string", "/api/sms", `{"number": "+541112345678", "text": ["hi"]}`, nil, 400, "text"},
			{"unknown field", "/api/sms", `{"number": "+541112345678", "text": "hi", "from": "me"}`, nil, 400, "from"},
			{"malformed JSON", "/api/sms", `{"number": "+541112345678"`, nil, 400, ""},
			{"not JSON", "/api/sms", `{"number": "+541112345678", "text": "hi"}`, map[string]string{"Content-Type": "text/plain"}, 415, ""},
			{"body too large", "/api/sms", `{"number": "+541112345678", "text": "` + strings.Repeat("x", 17<<10) + `"}`, nil, 413, ""},
			{"idempotency key too long", "/api/sms", `{"number": "+541112345678", "text": "hi"}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 65)}, 400, "Idempotency-Key"},
			{"compat number missing", "/sms", `{"text": "hi"}`, nil, 400, "number"},
			{"compat text empty", "/sms", `{"number": "+541112345678", "text": ""}`, nil, 400, "text"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := app.do(http.MethodPost, tt.path, tt.body, tt.header)
				if resp.status != tt.wantCode {
					t.Fatalf("POST %s: %d %s, want %d", tt.path, resp.status, compact(resp.body), tt.wantCode)
				}
				if _, field := resp.errorOf(t); field != tt.wantField {
					t.Fatalf("field %q, want %q: %s", field, tt.wantField, resp.body)
				}
			})
		}
	})

	t.Run("unknown SMS", func(t *testing.T) {
		resp := app.get("/api/sms/no-such-sms")
		if code, _ := resp.errorOf(t); resp.status != http.StatusNotFound || code != "not_found" {
			t.Fatalf("GET /api/sms/no-such-sms: %d %s", resp.status, resp.body)
		}
		if resp := app.do(http.MethodDelete, "/api/sms/x", "", nil); resp.status != http.StatusMethodNotAllowed {
			t.Fatalf("DELETE /api/sms/x: %d %s", resp.status, resp.body)
		}
		// The original service answered null for a key it had not written.
		if resp := app.get("/key/no-such-sms"); resp.status != http.StatusOK || compact(resp.body) != `{"uuid":"no-such-sms","value":null}` {
			t.Fatalf("GET /key/no-such-sms: %d %s", resp.status, resp.body)
		}
	})

	t.Run("compatibility routes", func(t *testing.T) {
		resp := app.do(http.MethodPost, "/sms", `{"number": "+541112345678", "text": "legacy", "extra": true}`, nil)
		var accepted map[string]string
		resp.json(t, &accepted)
		if resp.status != http.StatusOK || len(accepted) != 3 || accepted["uuid"] == "" || accepted["number"] != "+541112345678" || accepted["text"] != "legacy" {
			t.Fatalf("POST /sms: %d %s", resp.status, resp.body)
		}
		eventually(t, 10*time.Second, func() bool {
			return compact(app.get("/key/"+accepted["uuid"]).body) == fmt.Sprintf(`{"uuid":%q,"value":"OK"}`, accepted["uuid"])
		}, "GET /key/{uuid} never said OK")
	})
}

// TestSMSProviderFailures runs the embedded mode against an HTTP provider that
// fails each number its own way.
func TestSMSProviderFailures(t *testing.T) {
	t.Parallel()
	const (
		flaky    = "+15550000001" // fails twice, then sends
		rejected = "+15550000002" // refused for good
		down     = "+15550000003" // never answers well
	)
	provider := testenv.NewSMSProvider(t, func(r testenv.SMSProviderRequest) int {
		switch {
		case r.Number == flaky && r.Attempt <= 2, r.Number == down:
			return http.StatusServiceUnavailable
		case r.Number == rejected:
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	cfg := embeddedConfig(t)
	cfg.SMS.Provider, cfg.SMS.HTTP.URL, cfg.SMS.HTTP.Authorization = config.SMSProviderHTTP, provider.URL, "Bearer test-token"
	cfg.Handlers.RetryBackoff = time.Millisecond
	// The most attempts there are: one per try the router gives a delivery.
	cfg.SMS.MaxAttempts = cfg.Handlers.MaxRetries + 1
	app := start(t, cfg, config.RoleServe)

	t.Run("transient failures are retried", func(t *testing.T) {
		id := app.postSMS(flaky, "third time lucky", nil).ID
		got := app.waitSMS(id)
		if got.Status != "sent" || got.Attempts != 3 || got.ProviderMessageID == "" || provider.Requests(id) != 3 {
			t.Fatalf("SMS = %+v after %d requests", got, provider.Requests(id))
		}
		if sent, _ := provider.Sent(id); sent.ID != got.ProviderMessageID || sent.Text != "third time lucky" {
			t.Fatalf("the provider sent %+v", sent)
		}
		if auth := provider.LastRequest().Authorization; auth != "Bearer test-token" {
			t.Fatalf("Authorization = %q", auth)
		}
	})

	t.Run("a refusal fails at once", func(t *testing.T) {
		id := app.postSMS(rejected, "no such number", nil).ID
		got := app.waitSMS(id)
		if got.Status != "failed" || got.Attempts != 1 || !strings.Contains(got.Error, "400") || provider.Requests(id) != 1 {
			t.Fatalf("SMS = %+v after %d requests", got, provider.Requests(id))
		}
		if resp := app.get("/key/" + id); compact(resp.body) != fmt.Sprintf(`{"uuid":%q,"value":"FAIL"}`, id) {
			t.Fatalf("GET /key/%s: %s", id, resp.body)
		}
	})

	t.Run("attempts run out", func(t *testing.T) {
		id := app.postSMS(down, "into the void", nil).ID
		got := app.waitSMS(id)
		want := fmt.Sprintf("gave up after %d attempts: ", cfg.SMS.MaxAttempts)
		if got.Status != "failed" || got.Attempts != cfg.SMS.MaxAttempts || !strings.HasPrefix(got.Error, want) || !strings.Contains(got.Error, "503") {
			t.Fatalf("SMS = %+v, want failed with %q...", got, want)
		}
		if n := provider.Requests(id); n != cfg.SMS.MaxAttempts {
			t.Fatalf("%d requests for %d attempts", n, cfg.SMS.MaxAttempts)
		}
		if _, sent := provider.Sent(id); sent {
			t.Fatal("the provider sent it after all")
		}
	})
}

// TestSMSFakeProviderFailing sets the fake provider of the embedded mode to fail
// every send.
func TestSMSFakeProviderFailing(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	cfg.SMS.Fake.FailureRate, cfg.SMS.MaxAttempts, cfg.Handlers.RetryBackoff = 1, 3, time.Millisecond
	app := start(t, cfg, config.RoleServe)

	got := app.waitSMS(app.postSMS("+541112345678", "never", nil).ID)
	if got.Status != "failed" || got.Attempts != 3 || !strings.Contains(got.Error, "gave up after 3 attempts: the fake SMS provider is failing") {
		t.Fatalf("SMS = %+v", got)
	}
}

// TestSMSSentOnce sends many SMS through an API and workers sharing one
// consumer group, stops a worker mid-stream and starts another, and delivers
// some commands again: the provider sends each SMS once.
func TestSMSSentOnce(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		if b.name != "redisstream" && b.name != "kafka" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			provider := testenv.NewSMSProvider(t, nil)
			provider.SetLatency(5 * time.Millisecond)
			cfg := b.config(t)
			cfg.SMS.Provider, cfg.SMS.HTTP.URL = config.SMSProviderHTTP, provider.URL
			// What a stopped worker had taken but not handled comes back soon, and
			// an attempt whose outcome was lost is given up for lost soon too.
			cfg.RedisStream.ClaimIdle, cfg.RedisStream.ClaimInterval = 2*time.Second, 200*time.Millisecond
			cfg.SMS.HTTP.Timeout = time.Second

			api := start(t, cfg, config.RoleAPI)
			first := start(t, cfg, config.RoleWorker)
			start(t, cfg, config.RoleWorker)

			const n = 80
			ids := make([]string, n)
			post := func(from, to int) {
				var wg sync.WaitGroup
				for i := from; i < to; i++ {
					wg.Go(func() {
						body := fmt.Sprintf(`{"number": "+54911%08d", "text": "message %d"}`, i, i)
						resp := api.do(http.MethodPost, "/api/sms", body, nil)
						var a smsAcceptedJSON
						if resp.status != http.StatusAccepted || json.Unmarshal(resp.body, &a) != nil {
							t.Errorf("POST /api/sms: %d %s", resp.status, resp.body)
						}
						ids[i] = a.ID
					})
				}
				wg.Wait()
			}

			post(0, n/2)
			eventually(t, 30*time.Second, func() bool { return provider.SentCount() >= n/8 }, "nothing was sent")
			first.stop() // mid-stream: its in-flight handlers finish, what it took but did not handle comes back
			start(t, cfg, config.RoleWorker)
			post(n/2, n)
			if t.Failed() {
				t.FailNow()
			}

			for _, id := range ids {
				if got := api.waitSMS(id); got.Status != "sent" {
					t.Fatalf("SMS %s: %+v", id, got)
				}
			}
			// Redelivered commands find their SMS sent and call nobody.
			before := provider.RequestsByKey()
			for _, id := range ids[:10] {
				if err := api.svc.Publisher().Publish(cfg.TopicPrefix+".commands.SendSMS", sendSMSMessage(id)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Second)
			if after := provider.RequestsByKey(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("redelivered commands called the provider: %v, then %v", before, after)
			}

			// Each SMS went out once, under its own id. The provider was asked
			// again only in a counted attempt, when the outcome of the one before
			// was lost with its worker: the idempotency key kept that to one send.
			for _, id := range ids {
				got := api.sms(id)
				sent, ok := provider.Sent(id)
				if !ok || sent.ID != got.ProviderMessageID || sent.Text == "" {
					t.Errorf("SMS %s: the provider sent %+v (%v), the API says %+v", id, sent, ok, got)
				}
				if requests := provider.Requests(id); requests > got.Attempts {
					t.Errorf("SMS %s: %d requests to the provider in %d attempts", id, requests, got.Attempts)
				} else if requests > 1 {
					t.Logf("SMS %s: %d attempts, one send", id, requests)
				}
			}
			if requests := provider.RequestsByKey(); len(requests) != n || provider.SentCount() != n {
				t.Fatalf("%d keys requested, %d SMS sent; want %d of each", len(requests), provider.SentCount(), n)
			}
		})
	}
}
