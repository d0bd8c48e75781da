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

// A command's transaction does not wait for the relay's publish of a
// rescued event: on SQLite a transaction would hold the one writer for as
// long as the publish takes, which on a Redis cache is a round trip. The
// rescued event was left by another process (a second Outbox on the same
// database, which runs no relay).
func TestOutboxRelayPublishHoldsUpNoWrite(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stopped, store := newStoreUnderTest(t, db), newStoreUnderTest(t, db)
			relayed := testenv.UniqueName("Relayed ")
			mention(t, stopped, relayed+"-cmd", relayed)
			written := testenv.UniqueName("Written during the publish ")
			publisher := &writingPublisher{write: func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := mentionErr(ctx, store, written+"-cmd", written)
				return err
			}, done: make(chan error, 1)}
			stopRelay := runRelay(t, store, publisher, sqlstore.OutboxRelayConfig{BatchSize: 10, PollInterval: 20 * time.Millisecond, RescueAfter: 100 * time.Millisecond})
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

// An event whose process stopped before its relay published it (here: a
// second Outbox on the same database, which runs no relay) is rescued by
// another process's relay, once it is RescueAfter old and not before: until
// then its own process may be publishing it.
func TestOutboxRelayRescuesEventsLeftByAnotherProcess(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stopped, relaying := newStoreUnderTest(t, db), newStoreUnderTest(t, db)
			publisher := &recordingPublisher{}
			const rescueAfter = 600 * time.Millisecond
			runRelay(t, relaying, publisher, sqlstore.OutboxRelayConfig{PollInterval: 20 * time.Millisecond, RescueAfter: rescueAfter})

			name := testenv.UniqueName("Left behind ")
			written := time.Now()
			mention(t, stopped, name+"-cmd", name)
			deadline := written.Add(10 * time.Second)
			for publisher.count() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			took := time.Since(written)
			switch {
			case publisher.count() == 0:
				t.Fatal("the event left behind was never rescued")
			case took < rescueAfter:
				t.Fatalf("rescued %s after its commit, before RescueAfter (%s)", took, rescueAfter)
			}
			waitForOutboxRows(t, db, 0)
			time.Sleep(100 * time.Millisecond)
			if got := publisher.count(); got != 1 {
				t.Fatalf("published %d times, want once", got)
			}
		})
	}
}

// The relay publishes the events of its own process's commits from memory
// and deletes the rows of several publishes in one statement: here once
// there are BatchSize of them (DeleteDelay is an hour).
func TestOutboxRelayDeletesPublishedRowsTogether(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := newStoreUnderTest(t, db)
			publisher := &recordingPublisher{}
			const batch = 4
			runRelay(t, store, publisher, sqlstore.OutboxRelayConfig{PollInterval: time.Hour, DeleteDelay: time.Hour, BatchSize: batch})
			name := testenv.UniqueName("Deleted together ")
			for i := range batch {
				mention(t, store, fmt.Sprintf("%s-cmd-%d", name, i), name)
				waitForPublished(t, publisher, i+1)
				if i == batch-1 {
					break
				}
				time.Sleep(20 * time.Millisecond) // a delete would show
				if rows := outboxRows(t, db); rows != i+1 {
					t.Fatalf("%d rows after %d publishes, want all of them until there are %d", rows, i+1, batch)
				}
			}
			waitForOutboxRows(t, db, 0)
		})
	}
}

// A relay that stops deletes the rows of the events it published, so that
// the next start does not publish them again: here more than one statement
// deletes (256 rows at most). The last event, published after the others,
// shows that the relay is done with their publishes.
func TestOutboxRelayDeletesPublishedRowsWhenItStops(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := newStoreUnderTest(t, db)
			publisher := &recordingPublisher{}
			stopRelay := runRelay(t, store, publisher, sqlstore.OutboxRelayConfig{PollInterval: time.Hour, DeleteDelay: time.Hour, BatchSize: 1000})
			name := testenv.UniqueName("Stopping ")
			const n = 300
			for i := range n {
				mention(t, store, fmt.Sprintf("%s-cmd-%d", name, i), name)
			}
			waitForPublished(t, publisher, n)
			mention(t, store, name+"-cmd-last", name)
			waitForPublished(t, publisher, n+1)
			if err := stopRelay(); err != nil {
				t.Fatal(err)
			}
			if rows := outboxRows(t, db); rows != 0 {
				t.Fatalf("%d rows left after the relay stopped, want none", rows)
			}
		})
	}
}

// waitForPublished waits up to ten seconds for publisher to hold want
// messages.
func waitForPublished(t *testing.T, publisher *recordingPublisher, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for publisher.count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d events published after 10s, want %d", publisher.count(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// outboxRows counts the rows of the outbox of db.
func outboxRows(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	var n int
	if err := db.Reader().QueryRow("SELECT COUNT(*) FROM outbox").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitForOutboxRows waits up to ten seconds for the outbox of db to hold
// want rows.
func waitForOutboxRows(t *testing.T, db *sqlstore.DB, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for outboxRows(t, db) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d rows in the outbox after 10s, want %d", outboxRows(t, db), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
