package service_test

import (
	"net/http"
	"testing"

	"github.com/techradar/techradar/config"
)

// A number written with spaces, dashes, dots or parentheses is taken on
// every route that takes one and kept in E.164: what the answer shows, what
// is stored and what an idempotent retry is compared by.
func TestSMSNumbersAreNormalizedToE164(t *testing.T) {
	app := start(t, embeddedConfig(t), config.RoleServe)

	tests := []struct {
		path, body, want string
	}{
		{"/api/sms", `{"number": "+54 11 6658-7382", "text": "hi"}`, "+541166587382"},
		{"/api/sms", `{"number": "+1 (415) 555-2671", "text": "hi"}`, "+14155552671"},
		{"/api/sms", `{"number": "+1.415.555.2671", "text": "hi"}`, "+14155552671"},
		{"/sms", `{"number": "+54 11 6658-7382", "text": "hi"}`, "+541166587382"},
		{"/sms", `{"number": "+1 (415) 555-2671", "text": "hi"}`, "+14155552671"},
	}
	for _, tt := range tests {
		resp := app.do(http.MethodPost, tt.path, tt.body, nil)
		if resp.status != http.StatusAccepted && resp.status != http.StatusOK {
			t.Fatalf("POST %s %s: %d %s", tt.path, tt.body, resp.status, resp.body)
		}
		var got struct {
			Number string `json:"number"`
		}
		resp.json(t, &got)
		if got.Number != tt.want {
			t.Errorf("POST %s %s: number %q, want %q", tt.path, tt.body, got.Number, tt.want)
		}
	}

	// The same SMS spelt two ways under one key is one request.
	key := map[string]string{"Idempotency-Key": "spelt-two-ways"}
	first := app.do(http.MethodPost, "/api/sms", `{"number": "+54 11 6658-7382", "text": "hi"}`, key)
	again := app.do(http.MethodPost, "/api/sms", `{"number": "+541166587382", "text": "hi"}`, key)
	if first.status != http.StatusAccepted || again.status != http.StatusAccepted {
		t.Fatalf("the same SMS spelt two ways under one key: %d %s, then %d %s", first.status, first.body, again.status, again.body)
	}
	var a, b smsAcceptedJSON
	first.json(t, &a)
	again.json(t, &b)
	if a.ID != b.ID {
		t.Errorf("one key gave two SMS: %s and %s", a.ID, b.ID)
	}
}
