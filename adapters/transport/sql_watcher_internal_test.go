package transport

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// The SQL transport's polling, beyond the transport contract: an idle
// subscription leaves MySQL alone, a message another process publishes is
// read long before the safety poll, and a message not acked in time comes
// back after a poll interval, not after the safety poll.

const sqlWatchInterval = 50 * time.Millisecond

func openSQLForWatch(t *testing.T, dsn string) *SQL {
	t.Helper()
	return openSQLWithAckDeadline(t, dsn, 30*time.Second)
}

func openSQLWithAckDeadline(t *testing.T, dsn string, ackDeadline time.Duration) *SQL {
	t.Helper()
	tr, err := NewSQL(dsn, mysqldb.PoolConfig{MaxOpenConns: 8}, SQLConfig{
		PollInterval:    sqlWatchInterval,
		BatchSize:       10,
		AckDeadline:     ackDeadline,
		Partitions:      16,
		NackResendSleep: time.Second,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewSQL: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// subscribeForWatch subscribes as "group" to topic until the test ends.
func subscribeForWatch(t *testing.T, tr *SQL, topic string) <-chan *message.Message {
	t.Helper()
	subscriber, err := tr.Subscriber("group")
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
	return messages
}

// nextWithin is the next message of messages; the test fails, saying what
// did not come, after 5 s.
func nextWithin(t *testing.T, messages <-chan *message.Message, what string) *message.Message {
	t.Helper()
	select {
	case msg := <-messages:
		return msg
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not come within 5s", what)
		return nil
	}
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

	// Each partition polls at the start and once more on the watcher's first
	// round; after that, nothing but the watcher's one query. The first polls
	// may take a while on a busy machine: wait until they are over.
	settled := tr.polls.Load()
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(10 * sqlWatchInterval)
		now := tr.polls.Load()
		if now == settled && now >= 2*16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subscriptions still poll after 10s: %d polls, %d in the last %s", now, now-settled, 10*sqlWatchInterval)
		}
		settled = now
	}
	time.Sleep(20 * sqlWatchInterval)
	if polls := tr.polls.Load() - settled; polls != 0 {
		t.Fatalf("2 groups of 16 idle partitions polled %d times in %s; want none but the watcher's", polls, 20*sqlWatchInterval)
	}
}

func TestSQLMessageOfAnotherProcessIsReadAfterAQuietSpell(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDatabase(t)
	reader, writer := openSQLForWatch(t, dsn), openSQLForWatch(t, dsn)
	topic := testenv.UniqueName("quiet.")
	messages := subscribeForWatch(t, reader, topic)

	for round := range 3 {
		// Longer than every partition's first polls: they wait to be woken.
		time.Sleep(20 * sqlWatchInterval)
		msg := message.NewMessage(watermill.NewUUID(), []byte("after a quiet spell"))
		if err := writer.Publisher().Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
		// The safety poll is far off: only the watcher can bring it this soon.
		got := nextWithin(t, messages, fmt.Sprintf("round %d: the message of another process", round))
		if got.UUID != msg.UUID {
			t.Fatalf("round %d: got message %s, want %s", round, got.UUID, msg.UUID)
		}
		got.Ack()
	}
}

func TestSQLMessageNotAckedInTimeComesBackSoon(t *testing.T) {
	t.Parallel()
	tr := openSQLWithAckDeadline(t, testenv.MySQLDatabase(t), 300*time.Millisecond)
	topic := testenv.UniqueName("late.")
	messages := subscribeForWatch(t, tr, topic)
	msg := message.NewMessage(watermill.NewUUID(), []byte("late"))
	if err := tr.Publisher().Publish(topic, msg); err != nil {
		t.Fatal(err)
	}
	for delivery := range 2 {
		got := nextWithin(t, messages, fmt.Sprintf("delivery %d", delivery))
		if got.UUID != msg.UUID {
			t.Fatalf("delivery %d: got message %s, want %s", delivery, got.UUID, msg.UUID)
		}
		// The first delivery is left unacked past the deadline.
		if delivery == 1 {
			got.Ack()
		}
	}
}

func TestSQLWatcherPausesLongerTheLongerItIsQuiet(t *testing.T) {
	t.Parallel()
	w := &sqlWatcher{interval: 100 * time.Millisecond}
	for _, c := range []struct{ quiet, want time.Duration }{
		{0, 100 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
		{5 * time.Second, 500 * time.Millisecond},
		{10 * time.Second, time.Second},
		{time.Hour, time.Second},
	} {
		if got := w.pause(c.quiet); got != c.want {
			t.Errorf("pause after %s of quiet: %s, want %s", c.quiet, got, c.want)
		}
	}
	slow := &sqlWatcher{interval: 500 * time.Millisecond}
	if got := slow.pause(time.Hour); got != 5*time.Second {
		t.Errorf("a 500ms interval after an hour of quiet: %s, want 5s", got)
	}
}

func TestSQLCloseStopsTheWatcherOnceAndForAll(t *testing.T) {
	t.Parallel()
	tr := openSQLForWatch(t, testenv.MySQLDatabase(t))
	subscriber, err := tr.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := subscriber.Subscribe(context.Background(), testenv.UniqueName("stop.")); err != nil {
		t.Fatal(err)
	}
	_ = subscriber.Close()
	closed := make(chan struct{})
	go func() {
		_ = tr.Close()
		_ = tr.Close() // a second Close must not panic or wait
		close(closed)
	}()
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
	// A partition watched after Close starts nothing.
	tr.watcher.watch("late.partition")
	tr.watcher.mu.Lock()
	defer tr.watcher.mu.Unlock()
	if len(tr.watcher.partitions) != 16 {
		t.Fatalf("the watcher took a partition after Close: %d partitions, want the 16 of before", len(tr.watcher.partitions))
	}
}
