package sqlstore_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/testenv"
)

// Where the transport lives in the store's database, the outbox writes the
// events into it in the transaction of their change, and tells it once that
// transaction commits: the outbox table is not used, and an event exists if,
// and only if, its change does.
func TestOutboxPublishesInTheTransactionOfTheChange(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			failing := testenv.UniqueName("Failing ")
			publish, published := transportInStore(t, db, failing)
			store := newStoreUnderTest(t, db, sqlstore.WithPublishInTransaction(publish))

			kept := testenv.UniqueName("Kept ")
			for range 3 {
				mention(t, store, testenv.UniqueName("cmd-"), kept)
			}
			if _, err := mentionErr(ctx, store, testenv.UniqueName("cmd-"), failing); err == nil {
				t.Fatal("a change whose events the transport refused was applied")
			}

			var created, mentioned int
			if err := db.Reader().QueryRowContext(ctx, "SELECT "+
				"(SELECT COUNT(*) FROM transport_messages WHERE topic = 'events.TechCreated'), "+
				"(SELECT COUNT(*) FROM transport_messages WHERE topic = 'events.TechMentioned')").Scan(&created, &mentioned); err != nil {
				t.Fatal(err)
			}
			if created != 1 || mentioned != 2 {
				t.Fatalf("the transport holds %d TechCreated and %d TechMentioned; want 1 and 2", created, mentioned)
			}
			if n := published.Load(); n != 3 {
				t.Fatalf("the transport was told of %d committed events; want 3", n)
			}
			var outboxRows int
			if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox").Scan(&outboxRows); err != nil {
				t.Fatal(err)
			}
			if outboxRows != 0 {
				t.Fatalf("the outbox table holds %d rows; want none", outboxRows)
			}
			name, err := tech.ParseName(failing)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.TechByID(ctx, tech.IDFor(name)); err == nil {
				t.Fatalf("the tech %q exists, though its event was refused", failing)
			}
		})
	}
}

// transportInStore is a transport whose messages live in db, in a table of
// its own, for a store to publish in its transactions: it keeps each message's
// uuid and topic, refuses (with a statement that fails) every message whose
// payload holds refused, and counts the messages it is told were committed.
func transportInStore(t *testing.T, db *sqlstore.DB, refused string) (sqlstore.PublishInTransaction, *atomic.Int64) {
	t.Helper()
	if _, err := db.Writer().ExecContext(context.Background(), "CREATE TABLE transport_messages (uuid VARCHAR(64) NOT NULL PRIMARY KEY, topic VARCHAR(200) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	var published atomic.Int64
	publish := func(_ context.Context, topic string, messages []*message.Message) ([]sqlstore.Statement, func(), error) {
		statements := make([]sqlstore.Statement, 0, len(messages))
		for _, msg := range messages {
			table := "transport_messages"
			if strings.Contains(string(msg.Payload), refused) {
				table = "missing_table"
			}
			statements = append(statements, sqlstore.Statement{Query: "INSERT INTO " + table + " (uuid, topic) VALUES (?, ?)", Args: []any{msg.UUID, topic}})
		}
		return statements, func() { published.Add(int64(len(messages))) }, nil
	}
	return publish, &published
}
