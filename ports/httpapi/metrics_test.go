package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/ports/httpapi"
)

// TestHTTPMetricsLabelsAreBounded: whatever path or method a client sends, the
// labels come from a closed set, so no client can grow the series without bound.
func TestHTTPMetricsLabelsAreBounded(t *testing.T) {
	t.Parallel()
	registry := prometheus.NewRegistry()
	handler := httpapi.NewHTTPHandler(app.Application{}, nil, slog.New(slog.DiscardHandler), httpapi.WithMetrics(registry))

	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/healthz"},
		{http.MethodGet, "/random/path/1"},
		{http.MethodGet, "/random/path/2"},
		{"BREW", "/coffee"},
	} {
		handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.method, r.path, nil))
	}

	want := map[[3]string]float64{
		{"GET", "/healthz", "200"}:    1,
		{"GET", "unmatched", "404"}:   2,
		{"other", "unmatched", "404"}: 1,
	}
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[[3]string]float64{}
	for _, f := range families {
		if f.GetName() != "techradar_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[[3]string{labels["method"], labels["route"], labels["status"]}] = m.GetCounter().GetValue()
		}
	}
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("requests%v = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if n := testutil.CollectAndCount(registry, "techradar_http_request_duration_seconds"); n != 3 {
		t.Errorf("%d latency series, want 3 (one per method and route)", n)
	}
}
