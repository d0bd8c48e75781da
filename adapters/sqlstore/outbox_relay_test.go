package sqlstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

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
	publisher := &recordingPublisher{failures: 2}
	stopRelay := runRelay(t, store, publisher, sqlstore.OutboxRelayConfig{BatchSize: 3, PollInterval: 20 * time.Millisecond})

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
	if err := stopRelay(); err != nil {
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

// runRelay runs the outbox relay of store on publisher until stop is called,
// or the test ends; stop returns what the relay returned.
func runRelay(t *testing.T, store techStore, publisher message.Publisher, config sqlstore.OutboxRelayConfig) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- store.RelayOutbox(ctx, publisher, config, slog.New(slog.DiscardHandler)) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}

// Where the publish runs the handlers (GoChannel) and they wait on the
// network, the relay publishes each event of a round on its own, all at once.
func TestOutboxRelayPublishesEachEventAloneAtOnce(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const n = 5
			name := testenv.UniqueName("Alone ")
			for i := range n {
				mention(t, store, fmt.Sprintf("alone-cmd-%d", i), name)
			}
			publisher := &waitingPublisher{want: n, all: make(chan struct{})}
			stopRelay := runRelay(t, store, publisher, sqlstore.OutboxRelayConfig{BatchSize: 10, PollInterval: time.Hour, PublishEachAlone: true})
			select {
			case <-publisher.all:
			case <-time.After(10 * time.Second):
				t.Fatalf("%d publishes at once within 10s, want %d", publisher.atOnce(), n)
			}
			if err := stopRelay(); err != nil {
				t.Fatal(err)
			}
			if got := publisher.messagesPerPublish(); got != 1 {
				t.Fatalf("a publish carried %d messages, want 1", got)
			}
		})
	}
}

// waitingPublisher holds every publish until want of them are in flight at
// once.
type waitingPublisher struct {
	want     int
	all      chan struct{}
	mu       sync.Mutex
	inFlight int
	most     int
	largest  int
}

func (p *waitingPublisher) Publish(_ string, msgs ...*message.Message) error {
	p.mu.Lock()
	p.inFlight++
	p.most = max(p.most, p.inFlight)
	p.largest = max(p.largest, len(msgs))
	if p.inFlight == p.want {
		close(p.all)
	}
	p.mu.Unlock()
	select {
	case <-p.all:
	case <-time.After(10 * time.Second):
	}
	return nil
}

func (p *waitingPublisher) Close() error { return nil }

func (p *waitingPublisher) atOnce() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.most
}

func (p *waitingPublisher) messagesPerPublish() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.largest
}

// A command's transaction does not wait for the relay's publish: on SQLite a
// transaction would hold the one writer for as long as the publish takes,
// which on a Redis cache is a round trip.
func TestOutboxRelayPublishHoldsUpNoWrite(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			relayed := testenv.UniqueName("Relayed ")
			mention(t, store, relayed+"-cmd", relayed)
			written := testenv.UniqueName("Written during the publish ")
			publisher := &writingPublisher{write: func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := mentionErr(ctx, store, written+"-cmd", written)
				return err
			}, done: make(chan error, 1)}
			stopRelay := runRelay(t, store, publisher, sqlstore.OutboxRelayConfig{BatchSize: 10, PollInterval: time.Hour})
			select {
			case err := <-publisher.done:
				if err != nil {
					t.Errorf("a mention during the relay's publish: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("no publish within 10s")
			}
			// Both events are relayed, each once.
			deadline := time.Now().Add(10 * time.Second)
			for publisher.count() < 2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			if err := stopRelay(); err != nil {
				t.Fatal(err)
			}
			if got := publisher.count(); got != 2 {
				t.Fatalf("relayed %d events, want 2: the one published during the write and the write's", got)
			}
		})
	}
}

// writingPublisher runs write in its first publish and reports its error;
// it counts the messages published.
type writingPublisher struct {
	write     func() error
	once      sync.Once
	done      chan error
	mu        sync.Mutex
	published int
}

func (p *writingPublisher) Publish(_ string, msgs ...*message.Message) error {
	p.mu.Lock()
	p.published += len(msgs)
	p.mu.Unlock()
	p.once.Do(func() { p.done <- p.write() })
	return nil
}

func (p *writingPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published
}

func (p *writingPublisher) Close() error { return nil }
