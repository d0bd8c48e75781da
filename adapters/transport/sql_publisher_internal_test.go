package transport

import (
	"context"
	"database/sql"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/testenv"
)

func TestSQLPublishSeparatelyPutsEachMessageWhereItsOwnPublishWould(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDatabase(t)
	tr := openSQLForWatch(t, dsn)
	topic := testenv.UniqueName("separately.")

	var messages []*message.Message
	for range 40 {
		messages = append(messages, message.NewMessage(watermill.NewUUID(), []byte("{}")))
	}
	publisher, ok := tr.Publisher().(SeparatePublisher)
	if !ok {
		t.Fatal("the SQL publisher does not publish separately")
	}
	if err := publisher.PublishSeparately(topic, messages...); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	partitions := map[string]bool{}
	for _, msg := range messages {
		partition := tr.partitionOf(topic, []*message.Message{msg})
		partitions[partition] = true
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+tr.schema.MessagesTable(partition)+" WHERE `uuid` = ?", msg.UUID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("message %s is %d times in %s, the partition a publish of it alone goes to; want once", msg.UUID, n, partition)
		}
	}
	if len(partitions) < 2 {
		t.Fatalf("40 messages went to %d partition(s); want them spread", len(partitions))
	}
}
