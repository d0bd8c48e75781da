package service_test

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/config"
)

// scrape reads /metrics into a map from series (name and labels, as exposed)
// to value.
func scrape(t *testing.T, app *running) map[string]float64 {
	t.Helper()
	resp := app.get("/metrics")
	if resp.status != http.StatusOK || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s %.200s", resp.status, resp.header.Get("Content-Type"), resp.body)
	}
	series := map[string]float64{}
	lines := bufio.NewScanner(bytes.NewReader(resp.body))
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		value, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("unreadable metrics line %q", line)
		}
		series[line[:i]] = value
	}
	return series
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	app := start(t, cfg, config.RoleServe)

	app.waitProcessed(app.postTech("Prometheus", nil).CommandID)
	eventually(t, 10*time.Second, func() bool { _, ok := find(app.list(""), "Prometheus"); return ok }, "the tech never showed")
	// The mention's event may still be on its way and invalidate the list
	// once more; after that, an unchanged list is served from the cache.
	eventually(t, 10*time.Second, func() bool { return app.list("").IsCached },
		"reads of an unchanged list never came from the cache")
	app.get("/api/techs/no-such-tech")
	app.get("/no/such/route/42")

	// A message no handler can decode fails, is poisoned, and shows in the gauge.
	garbage := message.NewMessage("metrics-garbage", []byte("not json"))
	garbage.Metadata.Set("name", "CreateTech")
	if err := app.svc.Publisher().Publish(commandTopic(cfg), garbage); err != nil {
		t.Fatal(err)
	}

	var series map[string]float64
	eventually(t, 10*time.Second, func() bool {
		series = scrape(t, app)
		return series["techradar_poisoned_messages"] == 1
	}, "the poisoned message never showed in techradar_poisoned_messages")

	atLeastOne := []string{
		`techradar_http_requests_total{method="POST",route="/api/techs",status="202"}`,
		`techradar_http_requests_total{method="GET",route="/api/techs",status="200"}`,
		`techradar_http_requests_total{method="GET",route="/api/techs/:id",status="404"}`,
		`techradar_http_requests_total{method="GET",route="unmatched",status="404"}`,
		`techradar_http_request_duration_seconds_bucket{method="POST",route="/api/techs",le="+Inf"}`,
		`techradar_http_request_duration_seconds_count{method="GET",route="/api/techs"}`,
		`techradar_handler_execution_time_seconds_count{handler_name="techradar.create-tech",success="true"}`,
		`techradar_handler_execution_time_seconds_count{handler_name="techradar.create-tech",success="false"}`,
		`techradar_handler_execution_time_seconds_count{handler_name="techradar.invalidate-tech-read-model.on-tech-created",success="true"}`,
		`techradar_read_model_cache_lookups_total{result="hit"}`,
		`techradar_read_model_cache_lookups_total{result="miss"}`,
		`techradar_read_model_cache_invalidations_total{result="ok"}`,
		`go_goroutines`,
	}
	for _, s := range atLeastOne {
		if series[s] < 1 {
			t.Errorf("%s = %v, want at least 1", s, series[s])
		}
	}
	if v, ok := series[`techradar_read_model_cache_lookups_total{result="error"}`]; !ok || v != 0 {
		t.Errorf("cache errors = %v (exported %v), want 0", v, ok)
	}
	for s := range series {
		// Series are labelled by route template, never by the raw path.
		if strings.Contains(s, "no-such") || strings.Contains(s, "/no/such/route") {
			t.Errorf("a raw path became a label: %s", s)
		}
	}
}
