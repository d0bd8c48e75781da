package service_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/config"
)

// The compatibility routes take the HTML form bodies the original Express
// clients sent, as well as JSON; any other media type is still 415.
func TestCompatRoutesTakeFormBodies(t *testing.T) {
	app := start(t, embeddedConfig(t), config.RoleServe)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	t.Run("create", func(t *testing.T) {
		resp := app.do(http.MethodPost, "/create", url.Values{"text": {"Form Posted Tech"}}.Encode(), form)
		if resp.status != http.StatusCreated || compact(resp.body) != `{"message":"Tech List created successfully"}` {
			t.Fatalf("POST /create as a form: %d %s", resp.status, resp.body)
		}
		eventually(t, 10*time.Second, func() bool {
			return strings.Contains(string(app.get("/get").body), `"Form Posted Tech - priority (low)"`)
		}, "the tech posted as a form in GET /get")
	})

	t.Run("sms", func(t *testing.T) {
		resp := app.do(http.MethodPost, "/sms", "number=%2B54+11+6658-7382&text=hello+there", form)
		if resp.status != http.StatusOK {
			t.Fatalf("POST /sms as a form: %d %s", resp.status, resp.body)
		}
		var got struct {
			UUID   string `json:"uuid"`
			Number string `json:"number"`
			Text   string `json:"text"`
		}
		resp.json(t, &got)
		if got.UUID == "" || got.Number != "+541166587382" || got.Text != "hello there" {
			t.Fatalf("POST /sms as a form answered %s", resp.body)
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		tests := []struct {
			name, path, body, contentType string
			wantCode                      int
			wantField                     string
		}{
			{"create without text", "/create", "name=Kafka", "application/x-www-form-urlencoded", 400, "text"},
			{"create with empty text", "/create", "text=", "application/x-www-form-urlencoded", 400, "text"},
			{"create with text twice", "/create", "text=a&text=b", "application/x-www-form-urlencoded", 400, "text"},
			{"create with a bad escape", "/create", "text=%zz", "application/x-www-form-urlencoded", 400, ""},
			{"create too large", "/create", "text=" + strings.Repeat("x", 17<<10), "application/x-www-form-urlencoded", 413, ""},
			{"create as text", "/create", "text=Kafka", "text/plain", 415, ""},
			{"create as multipart", "/create", "text=Kafka", "multipart/form-data; boundary=x", 415, ""},
			{"sms without number", "/sms", "text=hi", "application/x-www-form-urlencoded", 400, "number"},
			{"sms with a bad number", "/sms", "number=541166587382&text=hi", "application/x-www-form-urlencoded", 400, "number"},
			{"sms without text", "/sms", "number=%2B541166587382", "application/x-www-form-urlencoded", 400, "text"},
			{"sms too large", "/sms", "number=%2B541166587382&text=" + strings.Repeat("x", 17<<10), "application/x-www-form-urlencoded", 413, ""},
			{"sms as text", "/sms", "number=%2B541166587382&text=hi", "text/plain", 415, ""},
			// The form is for the compatibility routes only.
			{"api as a form", "/api/techs", "name=Kafka", "application/x-www-form-urlencoded", 415, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := app.do(http.MethodPost, tt.path, tt.body, map[string]string{"Content-Type": tt.contentType})
				if resp.status != tt.wantCode {
					t.Fatalf("POST %s: %d %s, want %d", tt.path, resp.status, compact(resp.body), tt.wantCode)
				}
				if _, field := resp.errorOf(t); field != tt.wantField {
					t.Fatalf("field %q, want %q: %s", field, tt.wantField, resp.body)
				}
			})
		}
	})
}
