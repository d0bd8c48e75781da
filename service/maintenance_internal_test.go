package service

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/internal/telemetry"
	"github.com/techradar/techradar/internal/testenv"
)

// TestStreamCapDropsAreCountedAndLogged: a REDISSTREAM_MAX_LEN that cuts
// entries a group had not read shows in the counter of dropped entries and
// in an error line naming the topic.
func TestStreamCapDropsAreCountedAndLogged(t *testing.T) {
	t.Parallel()
	options, prefix := testenv.Redis(t)
	tr, err := transport.NewRedisStream(options, transport.RedisStreamConfig{
		Consumer: "capped", MaxLen: 4, BlockTime: time.Second, ClaimIdle: time.Minute, ClaimInterval: time.Minute,
		NackResendSleep: time.Second, Concurrency: 1,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	topic := prefix + "commands"
	for range 10 {
		if err := tr.Publisher().Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("{}"))); err != nil {
			t.Fatal(err)
		}
	}
	client := redis.NewClient(options)
	t.Cleanup(func() { _ = client.Close() })
	// A group that has read nothing: the cap cuts 6 of its 10 entries.
	if err := client.XGroupCreate(context.Background(), topic, "behind", "0").Err(); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	metrics, err := telemetry.NewMaintenanceMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := transport.CleanRound(context.Background(), tr, metrics.TransportCleaned, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if dropped := testutil.ToFloat64(metrics.StreamDropped.WithLabelValues(topic)); dropped != 6 {
		t.Errorf("dropped entries counted: %v, want 6", dropped)
	}
	if removed := testutil.ToFloat64(metrics.TransportRemoved); removed != 6 {
		t.Errorf("removed messages counted: %v, want 6", removed)
	}
	if line := logs.String(); !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "topic="+topic) || !strings.Contains(line, "entries=6") {
		t.Errorf("log = %q, want an error naming the topic and the 6 entries", line)
	}
}
