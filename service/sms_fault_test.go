package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/testenv"
)

// smsBackend is b's configuration sending through an HTTP SMS provider of the
// test's own, which counts the requests it gets for each SMS.
func smsBackend(t *testing.T, b backend) (config.Config, *testenv.SMSProvider) {
	t.Helper()
	provider := testenv.NewSMSProvider(t, nil)
	cfg := b.config(t)
	cfg.SMS.Provider, cfg.SMS.HTTP.URL = config.SMSProviderHTTP, provider.URL
	return cfg, provider
}

func sendSMSTopic(cfg config.Config) string { return cfg.TopicPrefix + ".commands.SendSMS" }

// sendSMSCommand is a SendSMS marshaled the way the command bus marshals it.
func sendSMSCommand(t *testing.T, id string) *message.Message {
	t.Helper()
	marshaler := cqrs.JSONMarshaler{GenerateName: cqrs.StructName}
	msg, err := marshaler.Marshal(&command.SendSMS{CommandID: id, RequestedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if name := msg.Metadata.Get("name"); name != "SendSMS" {
		t.Fatalf("the command is named %q on the wire", name)
	}
	return msg
}

// postedSMS is an SMS the API accepted, and what it was asked to send.
type postedSMS struct {
	id, number, text string
}

// postSMSConcurrently submits n SMS at once, each to its own number.
func postSMSConcurrently(t *testing.T, app *running, n int, tag string) []postedSMS {
	t.Helper()
	posted := make([]postedSMS, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := postedSMS{number: fmt.Sprintf("+54911%08d", i), text: fmt.Sprintf("%s message %d", tag, i)}
			body, _ := json.Marshal(map[string]string{"number": p.number, "text": p.text})
			resp := app.do(http.MethodPost, "/api/sms", string(body), nil)
			var a smsAcceptedJSON
			if resp.status != http.StatusAccepted || json.Unmarshal(resp.body, &a) != nil || a.ID == "" {
				t.Errorf("POST /api/sms: %d %s", resp.status, resp.body)
				return
			}
			p.id = a.ID
			posted[i] = p
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return posted
}

// assertSentOnce waits for every SMS to be sent and checks that the provider
// was asked for each exactly once, in one attempt, and sent what was posted
// under the id the API reports.
func assertSentOnce(t *testing.T, app *running, provider *testenv.SMSProvider, posted []postedSMS) {
	t.Helper()
	for _, p := range posted {
		got := app.waitSMS(p.id)
		sent, ok := provider.Sent(p.id)
		switch {
		case got.Status != "sent" || got.ProviderMessageID == "" || got.Error != "":
			t.Errorf("SMS %s: %+v", p.id, got)
		case got.Attempts != 1 || provider.Requests(p.id) != 1:
			t.Errorf("SMS %s: %d requests to the provider in %d attempts, want 1", p.id, provider.Requests(p.id), got.Attempts)
		case !ok || sent.ID != got.ProviderMessageID || sent.Number != p.number || sent.Text != p.text:
			t.Errorf("SMS %s: the provider sent %+v (%v), the API says %+v, posted %+v", p.id, sent, ok, got, p)
		}
	}
	if keys, n := len(provider.RequestsByKey()), provider.SentCount(); keys != len(posted) || n != len(posted) {
		t.Errorf("%d keys requested, %d SMS sent; want %d of each", keys, n, len(posted))
	}
}

// TestSMSFlowOnEveryTransport runs the SMS flow, HTTP to provider and back, on
// each transport: every SMS is sent once, under its own id, and reported sent
// with the provider's message id; a retried POST sends nothing more.
func TestSMSFlowOnEveryTransport(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg, provider := smsBackend(t, b)
			app := start(t, cfg, config.RoleServe)

			posted := postSMSConcurrently(t, app, 12, b.name)
			key := map[string]string{"Idempotency-Key": "sms-flow-" + b.name}
			first := app.postSMS("+15551234567", "sent once", key)
			if again := app.postSMS("+15551234567", "sent once", key); again.ID != first.ID {
				t.Fatalf("a retried POST made SMS %s besides %s", again.ID, first.ID)
			}
			posted = append(posted, postedSMS{id: first.ID, number: "+15551234567", text: "sent once"})

			assertSentOnce(t, app, provider, posted)
		})
	}
}

// TestSMSSplitRoles runs the API and two workers as separate services on each
// durable transport: SMS accepted while no worker runs stay queued, and the
// workers of the consumer group send each of them once.
func TestSMSSplitRoles(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		if !b.durable {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg, provider := smsBackend(t, b)
			api := start(t, cfg, config.RoleAPI)

			posted := postSMSConcurrently(t, api, 20, b.name)
			for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if got := api.sms(posted[0].id); got.Status != "queued" || got.Attempts != 0 {
					t.Fatalf("an SMS was handled with no worker running: %+v", got)
				}
			}
			if requests := provider.RequestsByKey(); len(requests) != 0 {
				t.Fatalf("the provider was asked with no worker running: %v", requests)
			}

			for range 2 {
				start(t, cfg, config.RoleWorker)
			}
			assertSentOnce(t, api, provider, posted)
		})
	}
}

// TestSMSDuplicateDeliveries publishes every SendSMS several times more, as an
// at-least-once transport may deliver it, while the first delivery may still
// be under way: the provider is asked once per SMS.
func TestSMSDuplicateDeliveries(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg, provider := smsBackend(t, b)
			// Slow enough that copies arrive while an attempt is under way.
			provider.SetLatency(20 * time.Millisecond)
			app := start(t, cfg, config.RoleServe)

			const copies = 3
			posted := postSMSConcurrently(t, app, 10, b.name)
			for _, p := range posted {
				msg := sendSMSCommand(t, p.id)
				for range copies {
					// A redelivery is the same message again; a producer retry has a new UUID.
					if err := app.svc.Publisher().Publish(sendSMSTopic(cfg), msg.Copy(), sendSMSCommand(t, p.id)); err != nil {
						t.Fatal(err)
					}
				}
			}
			assertSentOnce(t, app, provider, posted)

			before := fmt.Sprint(provider.RequestsByKey())
			time.Sleep(500 * time.Millisecond) // late copies must call nobody either
			if after := fmt.Sprint(provider.RequestsByKey()); after != before {
				t.Fatalf("late copies called the provider: %s, then %s", before, after)
			}
			for _, p := range posted {
				if got := app.sms(p.id); got.Status != "sent" || got.Attempts != 1 {
					t.Fatalf("SMS %s after the copies: %+v", p.id, got)
				}
			}
		})
	}
}

// TestSMSUndecodableMessagesArePoisoned puts messages the SendSMS handler can
// never take on its topic, between SMS posted through the API: each goes to the
// poison topic at once, recorded with the handler's name, a command whose id
// can be read is failed, and the SMS behind them are sent.
func TestSMSUndecodableMessagesArePoisoned(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg, provider := smsBackend(t, b)
			cfg.Handlers.RetryBackoff = 10 * time.Millisecond
			app := start(t, cfg, config.RoleServe)

			named := func(payload string) *message.Message {
				msg := message.NewMessage(testenv.UniqueName("bad-"), []byte(payload))
				msg.Metadata.Set("name", "SendSMS")
				return msg
			}
			bad := [][]*message.Message{
				{named("\x00 not json")},
				{named(`{"commandId":42}`), named(`{"commandId":"sms-bad-time","requestedAt":42}`)},
				{message.NewMessage(testenv.UniqueName("nameless-"), []byte(`{"hello":"world"}`)), named(`{"commandId":""}`)},
			}
			var posted []postedSMS
			for i, msgs := range bad {
				if err := app.svc.Publisher().Publish(sendSMSTopic(cfg), msgs...); err != nil {
					t.Fatal(err)
				}
				p := postedSMS{number: fmt.Sprintf("+1555000%04d", i), text: fmt.Sprintf("behind %d bad messages", len(msgs))}
				p.id = app.postSMS(p.number, p.text, nil).ID
				posted = append(posted, p)
			}
			assertSentOnce(t, app, provider, posted)

			if report := app.waitProcessed("sms-bad-time"); report.Status != "failed" || report.Error == "" {
				t.Fatalf("a poisoned command reports %+v", report)
			}

			admin := poisonAdmin(t, cfg)
			var poisoned []query.PoisonedMessage
			eventually(t, 20*time.Second, func() bool {
				var err error
				poisoned, err = admin.List(context.Background(), 10)
				return err == nil && len(poisoned) >= 5
			}, "the five bad messages were not all recorded as poisoned")
			time.Sleep(100 * time.Millisecond) // nothing more may come
			if poisoned, err := admin.List(context.Background(), 10); err != nil || len(poisoned) != 5 {
				t.Fatalf("poisoned %d messages (%v), want 5: %+v", len(poisoned), err, poisoned)
			}
			for _, p := range poisoned {
				if p.Topic != sendSMSTopic(cfg) || p.Handler != "techradar.send-sms" || p.Reason == "" {
					t.Fatalf("poisoned %+v", p)
				}
			}
		})
	}
}
