package sqlstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/internal/testenv"
)

// The outbox test needs a store of its own: it sees every event.
func TestTechStoreOutbox(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) { t.Parallel(); testOutboxRelay(t, store) })
	}
}

func testOutboxRelay(t *testing.T, store techStore) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	publisher := &recordingPublisher{failures: 2}
	relayDone := make(chan error, 1)
	go func() {
		relayDone <- store.RelayOutbox(ctx, publisher, sqlstore.OutboxRelayConfig{BatchSize: 3, PollInterval: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
	}()

	const n = 10
	name := testenv.UniqueName("Outbox ")
	for i := range n {
		mention(t, store, fmt.Sprintf("outbox-cmd-%d", i), name)
	}

	deadline := time.Now().Add(10 * time.Second)
	for publisher.count() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// A relay round that published must not publish again.
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-relayDone; err != nil {
		t.Fatal(err)
	}

	got := publisher.messages()
	if len(got) != n {
		t.Fatalf("relayed %d events, want %d", len(got), n)
	}
	for i, m := range got {
		wantTopic := "events.TechMentioned"
		if i == 0 {
			wantTopic = "events.TechCreated"
		}
		if m.topic != wantTopic || m.msg.Metadata.Get("name") != wantTopic[len("events."):] {
			t.Fatalf("event %d: topic %s, metadata %v", i, m.topic, m.msg.Metadata)
		}
		if want := fmt.Sprintf(`"mentions":%d`, i+1); !strings.Contains(string(m.msg.Payload), want) {
			t.Fatalf("event %d out of order: %s", i, m.msg.Payload)
		}
	}
}
