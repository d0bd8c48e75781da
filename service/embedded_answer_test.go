package service_test

import (
	"net/http"
	"testing"

	"github.com/techradar/techradar/config"
)

// In embedded mode the transport applies a command before the API answers, so
// the 202 says so: processed with the tech, an SMS sent, and a retry under
// the same key answers the same.
func TestEmbeddedAnswersTellTheCommandsOutcome(t *testing.T) {
	t.Parallel()
	app := start(t, embeddedConfig(t), config.RoleServe)

	key := map[string]string{"Idempotency-Key": "embedded-answer"}
	first := app.postTech("Kafka", key)
	if first.Status != "processed" || first.TechID == "" {
		t.Fatalf("first answer = %+v, want processed with the tech", first)
	}
	if report := app.command(first.CommandID); report.Status != "processed" || report.TechID != first.TechID {
		t.Fatalf("the command log says %+v, the answer %+v", report, first)
	}
	if tech := app.get("/api/techs/" + first.TechID); tech.status != http.StatusOK {
		t.Fatalf("GET the tech answered: %d %s", tech.status, tech.body)
	}
	if retry := app.postTech("Kafka", key); retry != first {
		t.Fatalf("retry = %+v, first = %+v", retry, first)
	}
	other := app.postTech("Go", nil)
	if other.Status != "processed" || other.TechID == "" || other.TechID == first.TechID {
		t.Fatalf("answer without a key = %+v", other)
	}
	// Without a key the handler recorded the command as it applied it: the
	// log knows it as the answer said.
	if report := app.command(other.CommandID); report.Status != "processed" || report.TechID != other.TechID {
		t.Fatalf("the command log says %+v, the answer without a key %+v", report, other)
	}

	smsKey := map[string]string{"Idempotency-Key": "embedded-sms"}
	sent := app.postSMS("+541112345678", "hi", smsKey)
	if sent.Status != "sent" {
		t.Fatalf("SMS answer = %+v, want sent", sent)
	}
	if again := app.postSMS("+541112345678", "hi", smsKey); again != sent {
		t.Fatalf("SMS retry = %+v, first = %+v", again, sent)
	}
}

// An SMS the provider refuses is answered failed.
func TestEmbeddedAnswerTellsAFailedSMS(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	cfg.SMS.Fake.FailureRate, cfg.SMS.MaxAttempts = 1, 1
	app := start(t, cfg, config.RoleServe)
	if failed := app.postSMS("+541112345678", "hi", nil); failed.Status != "failed" {
		t.Fatalf("SMS answer = %+v, want failed", failed)
	}
}
