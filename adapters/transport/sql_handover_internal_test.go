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

// A partition's batch goes to the handlers all at once, and the group's
// offset moves only past what they acked without a gap.

// openSQLOnePartition is a transport whose topics are one table each, so
// that every message of a test is in one batch.
func openSQLOnePartition(t *testing.T, dsn string, ackDeadline time.Duration) *SQL {
	t.Helper()
	tr, err := NewSQL(dsn, mysqldb.PoolConfig{MaxOpenConns: 8}, SQLConfig{
		PollInterval:    sqlWatchInterval,
		BatchSize:       10,
		AckDeadline:     ackDeadline,
		Partitions:      1,
		NackResendSleep: 100 * time.Millisecond,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewSQL: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// publishInOneBatch publishes n messages in one transaction, before anyone
// reads the topic.
func publishInOneBatch(t *testing.T, tr *SQL, topic string, n int) []*message.Message {
	t.Helper()
	sent := make([]*message.Message, n)
	for i := range sent {
		sent[i] = message.NewMessage(watermill.NewUUID(), []byte{byte('a' + i)})
	}
	if err := tr.Publisher().Publish(topic, sent...); err != nil {
		t.Fatal(err)
	}
	return sent
}

// receiveAll receives n messages, by UUID.
func receiveAll(t *testing.T, messages <-chan *message.Message, n int) map[string]*message.Message {
	t.Helper()
	got := map[string]*message.Message{}
	for len(got) < n {
		msg := nextWithin(t, messages, fmt.Sprintf("message %d of %d, none of them acked,", len(got)+1, n))
		got[msg.UUID] = msg
	}
	return got
}

func TestSQLBatchIsHandedOverWithoutWaitingForAcks(t *testing.T) {
	t.Parallel()
	tr := openSQLOnePartition(t, testenv.MySQLDatabase(t), 30*time.Second)
	topic := testenv.UniqueName("batch.")
	sent := publishInOneBatch(t, tr, topic, 5)
	got := receiveAll(t, subscribeForWatch(t, tr, topic), len(sent))
	for _, msg := range sent {
		got[msg.UUID].Ack()
	}
}

func TestSQLOffsetStopsBeforeTheFirstMessageNotAcked(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDatabase(t)
	first := openSQLOnePartition(t, dsn, 30*time.Second)
	topic := testenv.UniqueName("gap.")
	sent := publishInOneBatch(t, first, topic, 5)

	// The first process handles all but the third, then stops.
	subscriber, err := first.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	messages, err := subscriber.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	got := receiveAll(t, messages, len(sent))
	for i, msg := range sent {
		if i != 2 {
			got[msg.UUID].Ack()
		}
	}
	if err := subscriber.Close(); err != nil {
		t.Fatal(err)
	}

	// The next one gets the third again, and what follows it, at least
	// once; never the two before it, which were acked without a gap.
	second := openSQLOnePartition(t, dsn, 30*time.Second)
	again := subscribeForWatch(t, second, topic)
	want := map[string]bool{sent[2].UUID: true, sent[3].UUID: true, sent[4].UUID: true}
	for len(want) > 0 {
		msg := nextWithin(t, again, fmt.Sprintf("messages %v", want))
		if msg.UUID == sent[0].UUID || msg.UUID == sent[1].UUID {
			t.Fatalf("message %s, acked before the gap, came back", msg.UUID)
		}
		delete(want, msg.UUID)
		msg.Ack()
	}
}

func TestSQLNackedMessageOfABatchComesBackAlone(t *testing.T) {
	t.Parallel()
	tr := openSQLOnePartition(t, testenv.MySQLDatabase(t), 30*time.Second)
	topic := testenv.UniqueName("nack.")
	sent := publishInOneBatch(t, tr, topic, 3)
	messages := subscribeForWatch(t, tr, topic)
	got := receiveAll(t, messages, len(sent))
	got[sent[0].UUID].Nack()
	got[sent[1].UUID].Ack()
	got[sent[2].UUID].Ack()
	back := nextWithin(t, messages, "the nacked message")
	if back.UUID != sent[0].UUID {
		t.Fatalf("got %s, want the nacked %s", back.UUID, sent[0].UUID)
	}
	back.Ack()
	select {
	case msg := <-messages:
		t.Fatalf("message %s came again after its batch was acked", msg.UUID)
	case <-time.After(300 * time.Millisecond):
	}
}

// A batch whose every copy was acked is drained only if its transaction
// acknowledges the last row: an ack that came as the ack deadline passed can
// be too late for the library, which then acknowledges less.
func TestSQLBatchDrainedOnlyWhenItsLastRowIsAcknowledged(t *testing.T) {
	t.Parallel()
	batch := newSQLBatch()
	batch.read(7)
	batch.read(8)
	for range 2 {
		copied := message.NewMessage(watermill.NewUUID(), nil)
		if _, _, ok := batch.handOver(copied); !ok {
			t.Fatal("a row read has no place in the batch")
		}
		copied.Ack()
		batch.ack()
	}
	if through, ok := batch.ackedThrough(); !ok || through != 8 {
		t.Fatalf("acked through %d, %v; want 8", through, ok)
	}
	batch.acknowledging(7)
	if batch.drained(10) {
		t.Fatal("drained although its transaction acknowledges the first row only")
	}
	batch.acknowledging(8)
	if !batch.drained(10) {
		t.Fatal("not drained although it read and acknowledged everything")
	}
	if batch.drained(2) {
		t.Fatal("drained although it read a full batch: more may wait below the mark")
	}
}
