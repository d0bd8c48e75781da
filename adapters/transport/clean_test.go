package transport_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// The cleaning of the transports that keep messages: what every group is
// done with goes, what some group still needs stays.

// redisStreamUnderClean is a Redis Streams transport, a client of the test's
// own to move groups along by hand, and a stream the transport has used.
type redisStreamUnderClean struct {
	transport *transport.RedisStream
	client    *redis.Client
	stream    string
	ids       []string // of the entries published, oldest first
}

func newRedisStreamUnderClean(t *testing.T, maxLen int64, entries int) redisStreamUnderClean {
	t.Helper()
	options, prefix := testenv.Redis(t)
	tr, err := transport.NewRedisStream(options, transport.RedisStreamConfig{
		Consumer: "cleaner", MaxLen: maxLen, BlockTime: 100 * time.Millisecond, ClaimIdle: time.Minute,
		ClaimInterval: time.Minute, NackResendSleep: testNackResend, Concurrency: 1,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	client := redis.NewClient(options)
	t.Cleanup(func() { _ = client.Close() })
	s := redisStreamUnderClean{transport: tr, client: client, stream: prefix + "stream"}
	s.publish(t, s.stream, entries)
	got, err := client.XRange(context.Background(), s.stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range got {
		s.ids = append(s.ids, entry.ID)
	}
	return s
}

func (s redisStreamUnderClean) publish(t *testing.T, stream string, n int) {
	t.Helper()
	for _, msg := range newMessages(n) {
		if err := s.transport.Publisher().Publish(stream, msg); err != nil {
			t.Fatal(err)
		}
	}
}

// read delivers the next n entries to group, as a consumer does, and
// acknowledges those not in pending.
func (s redisStreamUnderClean) read(t *testing.T, group string, n int64, pending ...string) {
	t.Helper()
	ctx := context.Background()
	streams, err := s.client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{s.stream, ">"}, Count: n, Block: -1}).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range streams[0].Messages {
		if !slices.Contains(pending, entry.ID) {
			s.ack(t, group, entry.ID)
		}
	}
}

func (s redisStreamUnderClean) ack(t *testing.T, group, id string) {
	t.Helper()
	if err := s.client.XAck(context.Background(), s.stream, group, id).Err(); err != nil {
		t.Fatal(err)
	}
}

func (s redisStreamUnderClean) createGroups(t *testing.T, groups ...string) {
	t.Helper()
	for _, group := range groups {
		if err := s.client.XGroupCreate(context.Background(), s.stream, group, "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// clean runs one round and checks what it says it removed and dropped.
func (s redisStreamUnderClean) clean(t *testing.T, removed, dropped int64) {
	t.Helper()
	report, err := s.transport.Clean(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if report.Removed[s.stream] != removed || report.Dropped[s.stream] != dropped {
		t.Fatalf("Clean removed %d and dropped %d, want %d and %d", report.Removed[s.stream], report.Dropped[s.stream], removed, dropped)
	}
}

// assertFirst checks the stream's oldest entry is ids[i], and its length.
func (s redisStreamUnderClean) assertFirst(t *testing.T, i int) {
	t.Helper()
	got, err := s.client.XRangeN(context.Background(), s.stream, "-", "+", 1).Result()
	if err != nil || len(got) == 0 || got[0].ID != s.ids[i] {
		t.Fatalf("oldest entry = %v, %v, want entry %d (%s)", got, err, i, s.ids[i])
	}
	if n := s.client.XLen(context.Background(), s.stream).Val(); n != int64(len(s.ids)-i) {
		t.Fatalf("%d entries left, want %d", n, len(s.ids)-i)
	}
}

func TestRedisStreamCleanKeepsWhatGroupsNeed(t *testing.T) {
	t.Parallel()
	s := newRedisStreamUnderClean(t, 0, 10)
	// A stream without a group is kept whole.
	s.clean(t, 0, 0)
	s.assertFirst(t, 0)

	// a has 0..5 delivered, 2 still pending; b has handled 0..7.
	s.createGroups(t, "a", "b")
	s.read(t, "a", 6, s.ids[2])
	s.read(t, "b", 8)
	s.clean(t, 2, 0)
	s.assertFirst(t, 2)
	s.clean(t, 0, 0)

	// a acknowledges 2: it needs 6 on; b needs 8 on.
	s.ack(t, "a", s.ids[2])
	s.clean(t, 4, 0)
	s.assertFirst(t, 6)

	// a handles everything: b's unread 8 and 9 stay, however far behind b is.
	s.read(t, "a", 10)
	s.clean(t, 2, 0)
	s.assertFirst(t, 8)

	other := s.stream + "-without-groups"
	s.publish(t, other, 3)
	s.clean(t, 0, 0)
	if n := s.client.XLen(context.Background(), other).Val(); n != 3 {
		t.Fatalf("a stream without groups has %d entries left, want 3", n)
	}
}

func TestRedisStreamCapDropsUnreadEntriesAndSaysSo(t *testing.T) {
	t.Parallel()
	s := newRedisStreamUnderClean(t, 4, 10)
	// a has handled everything, b the first 3: the 3 entries both handled
	// go, then the cap of 4 cuts 3 that b had not read.
	s.createGroups(t, "a", "b")
	s.read(t, "a", 10)
	s.read(t, "b", 3)
	s.clean(t, 6, 3)
	s.assertFirst(t, 6)

	// Under the cap, nothing more goes.
	s.clean(t, 0, 0)
	s.assertFirst(t, 6)
}

func TestSQLCleanDeletesWhatEveryGroupConsumed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.MySQLDatabase(t)
	tr, err := transport.NewSQL(dsn, mysqldb.PoolConfig{MaxOpenConns: 4}, transport.SQLConfig{
		PollInterval: 20 * time.Millisecond, BatchSize: 10, AckDeadline: 30 * time.Second, Partitions: 1, NackResendSleep: testNackResend,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	topic := testenv.UniqueName("topic.")
	sent := newMessages(10)
	for _, msg := range sent {
		if err := tr.Publisher().Publish(topic, msg); err != nil {
			t.Fatal(err)
		}
	}
	offsets := queryOffsets(t, db, "SELECT `offset` FROM `watermill_"+topic+"` ORDER BY `offset`")
	clean := func(want int64) {
		t.Helper()
		report, err := tr.Clean(ctx)
		if err != nil || report.Removed[topic] != want {
			t.Fatalf("Clean = %+v, %v, want %d removed", report, err, want)
		}
	}
	// No group yet: everything stays for the first one.
	clean(0)

	// a has acknowledged everything, b the first 4.
	if _, err := db.ExecContext(ctx, "INSERT INTO `watermill_offsets_"+topic+"` (consumer_group, offset_acked, offset_consumed) VALUES ('a', ?, ?), ('b', ?, ?)",
		offsets[9], offsets[9], offsets[3], offsets[3]); err != nil {
		t.Fatal(err)
	}
	clean(4)
	clean(0)

	// b reads the rest: they are all there. A batch is handed over all at
	// once, in no particular order.
	messages := subscribe(t, tr, topic, "b")
	rest := map[string]bool{}
	for _, msg := range sent[4:] {
		rest[msg.UUID] = true
	}
	for range sent[4:] {
		msg := receive(t, messages)
		if !rest[msg.UUID] {
			t.Fatalf("b got %s, which is not one of the messages after its offset", msg.UUID)
		}
		delete(rest, msg.UUID)
		msg.Ack()
	}
	eventually(t, func() bool {
		acked := queryOffsets(t, db, "SELECT offset_acked FROM `watermill_offsets_"+topic+"` WHERE consumer_group = 'b'")
		return acked[0] == offsets[9]
	}, "b's offset did not reach the last message")
	// All consumed: everything goes but the last message, which keeps the
	// table's offsets counting up.
	clean(5)
	if left := queryOffsets(t, db, "SELECT `offset` FROM `watermill_"+topic+"`"); len(left) != 1 || left[0] != offsets[9] {
		t.Fatalf("left %v, want the last message only", left)
	}
}

func queryOffsets(t *testing.T, db *sql.DB, query string) []int64 {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var offsets []int64
	for rows.Next() {
		var offset int64
		if err := rows.Scan(&offset); err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, offset)
	}
	return offsets
}
