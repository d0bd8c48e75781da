package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/correlation"
	"github.com/techradar/techradar/service"
)

// syncBuffer is a log sink the service writes from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var record map[string]any
		if json.Unmarshal([]byte(line), &record) == nil {
			out = append(out, record)
		}
	}
	return out
}

// TestCorrelationIDFollowsARequest sends a POST with an X-Request-ID over Redis
// Streams: the id is in the command's log lines and in the metadata of the
// event the command caused.
func TestCorrelationIDFollowsARequest(t *testing.T) {
	t.Parallel()
	cfg := sharedBackends(t)
	cfg.Transport = config.TransportRedisStream

	var logs syncBuffer
	logger := slog.New(correlation.NewLogHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := service.New(ctx, cfg, config.RoleServe, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	app := &running{t: t, svc: svc, baseURL: "http://" + svc.HTTPAddr()}
	t.Cleanup(app.stop)

	// Watch the events topic as a consumer group of the test's own.
	observer, err := service.NewTransport(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = observer.Close() })
	subscriber, err := observer.Subscriber("test-observer")
	if err != nil {
		t.Fatal(err)
	}
	events, err := subscriber.Subscribe(ctx, cfg.TopicPrefix+".events.TechCreated")
	if err != nil {
		t.Fatal(err)
	}

	const requestID = "req-correlation-4242"
	a := app.postTech("Correlated", map[string]string{"X-Request-ID": requestID})
	app.waitProcessed(a.CommandID)

	select {
	case msg := <-events:
		msg.Ack()
		if got := middleware.MessageCorrelationID(msg); got != requestID {
			t.Fatalf("the event carries correlation id %q, want %q", got, requestID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no TechCreated event")
	}

	wanted := map[string]bool{"http request": false, "command handled": false}
	for _, record := range app.logsWith(&logs, requestID) {
		if msg, ok := record["msg"].(string); ok {
			if _, tracked := wanted[msg]; tracked {
				wanted[msg] = true
			}
		}
	}
	for msg, seen := range wanted {
		if !seen {
			t.Errorf("no %q log line carries correlation_id %s", msg, requestID)
		}
	}
}

// logsWith returns the log records whose correlation_id is id.
func (r *running) logsWith(logs *syncBuffer, id string) []map[string]any {
	var out []map[string]any
	for _, record := range logs.lines() {
		if record["correlation_id"] == id {
			out = append(out, record)
		}
	}
	return out
}
