package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/ports/httpapi/web"
)

func TestServesThePageAndNothingElse(t *testing.T) {
	t.Parallel()
	e := echo.New()
	web.Register(e)

	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	for path, contentType := range map[string]string{
		"/":                   "text/html",
		"/assets/app.js":      "text/javascript",
		"/assets/app.css":     "text/css",
		"/assets/radar.js":    "text/javascript",
		"/assets/radar.css":   "text/css",
		"/assets/favicon.svg": "image/svg+xml",
	} {
		rec := get(path)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), contentType) {
			t.Errorf("GET %s: %d %s, want 200 %s", path, rec.Code, rec.Header().Get("Content-Type"), contentType)
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: security headers missing: %v", path, rec.Header())
		}
	}
	for _, path := range []string{"/assets/web.go", "/assets/..%2Fweb.go", "/assets/%2E%2E%2Fweb.go", "/assets/static%2Fapp.js", "/assets/nothing.js"} {
		if rec := get(path); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
	// The page loads nothing from outside the service.
	page := get("/").Body.String()
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page refers to another host")
	}
}
