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

// A store on the transport's database publishes in its own transactions: a
// message exists once its transaction commits and never if it rolls back,
// and while it is uncommitted, the subscribers of its partition read nothing
// past it, so that a publish committed after it is not read first and the
// message skipped.
func TestSQLPublishesInATransactionOfAnotherPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.MySQLDatabase(t)
	tr := openSQLForWatch(t, dsn)
	store, err := mysqldb.Open(dsn, mysqldb.PoolConfig{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	topic := testenv.UniqueName("in-transaction.")

	subscriber, err := tr.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	subscribeCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); _ = subscriber.Close() })
	received, err := subscriber.Subscribe(subscribeCtx, topic)
	if err != nil {
		t.Fatal(err)
	}

	// publishInTx runs the statements that publish msg in a transaction of
	// the store's pool, left open.
	publishInTx := func(msg *message.Message) (commit func() error, rollback func() error) {
		t.Helper()
		statements, published, err := tr.StatementsToPublish(ctx, topic, []*message.Message{msg})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := store.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range statements {
			if _, err := tx.ExecContext(ctx, st.Query, st.Args...); err != nil {
				_ = tx.Rollback()
				t.Fatal(err)
			}
		}
		return func() error {
			if err := tx.Commit(); err != nil {
				return err
			}
			published()
			return nil
		}, tx.Rollback
	}

	rolledBack := message.NewMessage(watermill.NewUUID(), []byte(`{"rolled":"back"}`))
	_, rollback := publishInTx(rolledBack)
	if err := rollback(); err != nil {
		t.Fatal(err)
	}

	pending := message.NewMessage(watermill.NewUUID(), []byte(`{"committed":"first"}`))
	commit, rollback := publishInTx(pending)
	t.Cleanup(func() { _ = rollback() })
	// A message of the same partition, published and committed while the
	// first is not: its offset is larger.
	var later *message.Message
	for later == nil || tr.partitionOf(topic, []*message.Message{later}) != tr.partitionOf(topic, []*message.Message{pending}) {
		later = message.NewMessage(watermill.NewUUID(), []byte(`{"committed":"second"}`))
	}
	if err := tr.Publisher().Publish(topic, later); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-received:
		t.Fatalf("message %s was read while an earlier offset of its partition was not committed", msg.UUID)
	case <-time.After(10 * sqlWatchInterval):
	}

	if err := commit(); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case msg := <-received:
			got[msg.UUID] = true
			msg.Ack()
		case <-time.After(20 * time.Second):
			t.Fatalf("read %d of the two committed messages", len(got))
		}
	}
	if !got[pending.UUID] || !got[later.UUID] {
		t.Fatalf("read %v; want %s and %s", got, pending.UUID, later.UUID)
	}
	select {
	case msg := <-received:
		t.Fatalf("read message %s; the only other one was rolled back", msg.UUID)
	case <-time.After(10 * sqlWatchInterval):
	}
}
