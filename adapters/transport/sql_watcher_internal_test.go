package transport

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// The SQL transport's polling, beyond the transport contract: an idle
// subscription leaves MySQL alone, and a message another process publishes is
// read within a few poll intervals however long the quiet before it.

const sqlWatchInterval = 50 * time.Millisecond

func openSQLForWatch(t *testing.T, dsn string) *SQL {
	t.Helper()
	tr, err := NewSQL(dsn, mysqldb.PoolConfig{MaxOpenConns: 8}, SQLConfig{
		PollInterval:    sqlWatchInterval,
		BatchSize:       10,
		AckDeadline:     30 * time.Second,
		Partitions:      16,
		NackResendSleep: time.Second,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewSQL: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestSQLIdleSubscriptionLeavesTheDatabaseAlone(t *testing.T) {
	t.Parallel()
	tr := openSQLForWatch(t, testenv.MySQLDatabase(t))
	topic := testenv.UniqueName("idle.")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, group := range []string{"first", "second"} {
		subscriber, err := tr.Subscriber(group)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = subscriber.Close() })
		if _, err := subscriber.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}

	// Each partition polls once at the start and once more on the watcher's
	// first round; after that, nothing but the watcher's one query.
	time.Sleep(10 * sqlWatchInterval)
	before := tr.polls.Load()
	time.Sleep(20 * sqlWatchInterval)
	if polls := tr.polls.Load() - before; polls != 0 {
		t.Fatalf("2 groups of 16 idle partitions polled %d times in %s; want none but the watcher's", polls, 20*sqlWatchInterval)
	}
}

func TestSQLMessageOfAnotherProcessIsReadAfterAQuietSpell(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDatabase(t)
	reader, writer := openSQLForWatch(t, dsn), openSQLForWatch(t, dsn)
	topic := testenv.UniqueName("quiet.")
	subscriber, err := reader.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = subscriber.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	messages, err := subscriber.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}

	for round := range 3 {
		// Longer than every partition's first polls: they wait to be woken.
		time.Sleep(20 * sqlWatchInterval)
		msg := message.NewMessage(watermill.NewUUID(), []byte("after a quiet spell"))
		if err := writer.Publisher().Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
		// The safety poll is far off: only the watcher can bring it this soon.
		select {
		case got := <-messages:
			if got.UUID != msg.UUID {
				t.Fatalf("round %d: got message %s, want %s", round, got.UUID, msg.UUID)
			}
			got.Ack()
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the message of another process was not read within 5s", round)
		}
	}
}

func TestSQLWatcherStopsWithTheTransport(t *testing.T) {
	t.Parallel()
	tr := openSQLForWatch(t, testenv.MySQLDatabase(t))
	subscriber, err := tr.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := subscriber.Subscribe(context.Background(), testenv.UniqueName("stop.")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * sqlWatchInterval)
	_ = subscriber.Close()
	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s")
	}
	select {
	case <-tr.watcher.done:
	default:
		t.Fatal("the watcher still runs after Close")
	}
}
