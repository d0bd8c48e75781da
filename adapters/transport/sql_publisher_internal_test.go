package transport

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/testenv"
)

// A process publishes a topic to one partition a slot, the partitions in
// turn: the publishes of one slot fill one partition's batches, and the
// slots that follow reach every partition, so that every worker of a group
// gets its share.
func TestSQLPublishesGoToOnePartitionASlotAndTheSlotsToEveryPartition(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDatabase(t)
	tr := openSQLForWatch(t, dsn) // 16 partitions
	clock := time.Now()
	tr.now = func() time.Time { return clock }
	topic := testenv.UniqueName("slots.")
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	countIn := func(partition string, messages []*message.Message) int {
		t.Helper()
		n := 0
		for _, msg := range messages {
			var found int
			if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+tr.schema.MessagesTable(partition)+" WHERE `uuid` = ?", msg.UUID).Scan(&found); err != nil {
				t.Fatal(err)
			}
			n += found
		}
		return n
	}

	partitions := map[string]bool{}
	for slot := range tr.config.Partitions {
		partition := tr.partitionOf(topic)
		// Three publishes in the slot: one of two messages, two of one.
		messages := newTestMessages(4)
		if err := tr.Publisher().Publish(topic, messages[:2]...); err != nil {
			t.Fatal(err)
		}
		for _, msg := range messages[2:] {
			if err := tr.Publisher().Publish(topic, msg); err != nil {
				t.Fatal(err)
			}
		}
		if n := countIn(partition, messages); n != len(messages) {
			t.Fatalf("slot %d: %d of the slot's %d messages in its partition %s; want all", slot, n, len(messages), partition)
		}
		partitions[partition] = true
		clock = clock.Add(sqlPublishSlot)
	}
	if len(partitions) != tr.config.Partitions {
		t.Fatalf("%d slots in turn published to %d partitions; want all %d", tr.config.Partitions, len(partitions), tr.config.Partitions)
	}
}
