package sqlstore_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

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
			transport := newTransportInStore(t, db, failing)
			store := newStoreUnderTest(t, db, sqlstore.WithPublishInTransaction(transport.publish))

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
			if n := transport.published.Load(); n != 3 {
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
type transportInStore struct {
	refused string
	// published counts the messages of the transactions that committed.
	published atomic.Int64
	// together counts the calls that published several messages at once.
	together atomic.Int64
	// hold, when set, is waited for by the next call, in its transaction.
	hold chan struct{}
}

func newTransportInStore(t *testing.T, db *sqlstore.DB, refused string) *transportInStore {
	t.Helper()
	if _, err := db.Writer().ExecContext(context.Background(), "CREATE TABLE transport_messages (uuid VARCHAR(64) NOT NULL PRIMARY KEY, topic VARCHAR(200) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return &transportInStore{refused: refused}
}

func (s *transportInStore) publish(_ context.Context, publishes []sqlstore.TopicMessages) ([]sqlstore.Statement, func(), error) {
	if s.hold != nil {
		<-s.hold
		s.hold = nil
	}
	var statements []sqlstore.Statement
	n := 0
	for _, p := range publishes {
		for _, msg := range p.Messages {
			table := "transport_messages"
			if strings.Contains(string(msg.Payload), s.refused) {
				table = "missing_table"
			}
			statements = append(statements, sqlstore.Statement{Query: "INSERT INTO " + table + " (uuid, topic) VALUES (?, ?)", Args: []any{msg.UUID, p.Topic}})
			n++
		}
	}
	if n > 1 {
		s.together.Add(1)
	}
	return statements, func() { s.published.Add(int64(n)) }, nil
}
