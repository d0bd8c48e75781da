package transport

import (
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

func TestSQLFewerPartitionsStrandNothing(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDatabase(t)
	before, err := NewSQL(dsn, mysqldb.PoolConfig{MaxOpenConns: 4}, SQLConfig{
		PollInterval: sqlWatchInterval, BatchSize: 10, AckDeadline: 30 * time.Second, Partitions: 8, NackResendSleep: time.Second,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = before.Close() })
	// A slot a publish: the 24 go to the 8 partitions in turn.
	clock := time.Now()
	before.now = func() time.Time { clock = clock.Add(sqlPublishSlot); return clock }
	topic := testenv.UniqueName("fewer.")
	sent := map[string]bool{}
	for range 24 {
		msg := message.NewMessage(watermill.NewUUID(), []byte("published to one of 8 partitions"))
		if err := before.Publisher().Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
		sent[msg.UUID] = true
	}

	// The next release runs with one partition: it reads the other seven
	// that it finds when it subscribes.
	after := openSQLOnePartition(t, dsn, 30*time.Second)
	messages := subscribeForWatch(t, after, topic)
	for len(sent) > 0 {
		msg := nextWithin(t, messages, fmt.Sprintf("%d messages of the partitions beyond the first", len(sent)))
		delete(sent, msg.UUID)
		msg.Ack()
	}
}
