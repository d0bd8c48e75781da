package transport

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
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
	tr, store := openSQLWithStorePool(t)
	// One slot throughout: every publish goes to one partition.
	stopped := time.Now()
	tr.now = func() time.Time { return stopped }
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
		statements, published, err := tr.StatementsToPublish(ctx, []TopicMessages{{Topic: topic, Messages: []*message.Message{msg}}})
		if err != nil {
			t.Fatal(err)
		}
		tx := runInTransaction(t, store, statements)
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
	later := message.NewMessage(watermill.NewUUID(), []byte(`{"committed":"second"}`))
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

// The messages of several topics published in one transaction lock their
// gates in one statement, in the gates' order whatever the topics' order,
// so that two such transactions never wait for each other in a cycle.
func TestSQLPublishesSeveralTopicsUnderOneGateStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr, store := openSQLWithStorePool(t)
	stopped := time.Now()
	tr.now = func() time.Time { return stopped }
	first, second := testenv.UniqueName("z-topic."), testenv.UniqueName("a-topic.")
	publishes := []TopicMessages{
		{Topic: first, Messages: newTestMessages(3)},
		{Topic: second, Messages: newTestMessages(3)},
	}
	statements, published, err := tr.StatementsToPublish(ctx, publishes)
	if err != nil {
		t.Fatal(err)
	}
	locks := 0
	for _, st := range statements {
		if strings.Contains(st.Query, "LOCK IN SHARE MODE") {
			locks++
		}
	}
	if locks != 1 || !strings.Contains(statements[0].Query, "ORDER BY `messages_table` LOCK IN SHARE MODE") {
		t.Fatalf("%d gate statements, the first %q; want one, first, in the gates' order", locks, statements[0].Query)
	}
	gates := map[string]bool{}
	for _, arg := range statements[0].Args {
		gates[arg.(string)] = true
	}
	for _, p := range publishes {
		if gate := sqlTransportTable("watermill_", tr.partitionOf(p.Topic)); !gates[gate] {
			t.Fatalf("the gate statement locks %v, not %s", statements[0].Args, gate)
		}
	}

	if err := runInTransaction(t, store, statements).Commit(); err != nil {
		t.Fatal(err)
	}
	published()
	for _, p := range publishes {
		for _, msg := range p.Messages {
			var n int
			if err := store.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+tr.schema.MessagesTable(tr.partitionOf(p.Topic))+" WHERE `uuid` = ?", msg.UUID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("message %s of %s is there %d times; want once", msg.UUID, p.Topic, n)
			}
		}
	}
}

func newTestMessages(n int) []*message.Message {
	messages := make([]*message.Message, n)
	for i := range messages {
		messages[i] = message.NewMessage(watermill.NewUUID(), []byte(`{}`))
	}
	return messages
}

// openSQLWithStorePool opens the transport on a fresh database and another
// pool on it, as a store's.
func openSQLWithStorePool(t *testing.T) (*SQL, *sql.DB) {
	t.Helper()
	dsn := testenv.MySQLDatabase(t)
	tr := openSQLForWatch(t, dsn)
	store, err := mysqldb.Open(dsn, mysqldb.PoolConfig{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return tr, store
}

// runInTransaction runs statements in a new transaction of pool, left open.
func runInTransaction(t *testing.T, pool *sql.DB, statements []watermillsql.Query) *sql.Tx {
	t.Helper()
	tx, err := pool.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range statements {
		if _, err := tx.ExecContext(context.Background(), st.Query, st.Args...); err != nil {
			_ = tx.Rollback()
			t.Fatal(err)
		}
	}
	return tx
}
