package sqlstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// At the rates a command is handled alone, round trips, not rows, set what
// MySQL costs (docs/BENCHMARKS-HISTORY.md): the command handler's transaction, for a
// command the API recorded, takes two: START TRANSACTION with the locking
// reads of the command's row and of the tech, then the writes with COMMIT.
func TestMySQLMentionTakesTwoRoundTrips(t *testing.T) {
	t.Parallel()
	store, commands := newCountedMySQLStore(t)
	ctx := context.Background()

	for i, name := range []string{"Round Trips", "Round Trips", "Round Trips Too"} {
		id := testenv.UniqueName("command-")
		if _, err := store.Accept(ctx, id, time.Now(), command.CreateTech{CommandID: id, Name: name}, ""); err != nil {
			t.Fatal(err)
		}
		before := commands.Load()
		if _, err := mentionErr(ctx, store, id, name); err != nil {
			t.Fatal(err)
		}
		if sent := commands.Load() - before; sent != 2 {
			t.Errorf("mention %d (%s) sent MySQL %d commands, want 2", i, name, sent)
		}
	}
	if got := techNamed(t, store, "Round Trips"); got.Mentions != 2 {
		t.Errorf("mentions = %d, want 2", got.Mentions)
	}
}

// The relay publishes the events of its own process's commits without
// asking MySQL anything, and deletes the rows of several publishes with one
// round trip: here when it stops (DeleteDelay is an hour).
func TestMySQLRelayPublishesWithoutARoundTrip(t *testing.T) {
	t.Parallel()
	store, commands := newCountedMySQLStore(t)
	ctx := context.Background()
	publisher := &recordingPublisher{}
	stopRelay := runRelay(t, store, publisher, sqlstore.OutboxRelayConfig{PollInterval: time.Hour, DeleteDelay: time.Hour})

	const n = 3
	ids := make([]string, n+1)
	for i := range ids {
		ids[i] = testenv.UniqueName("command-")
		if _, err := store.Accept(ctx, ids[i], time.Now(), command.CreateTech{CommandID: ids[i], Name: "Relayed"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// The relay's first rescue round, at its start, is over once the
	// commands sent stop growing.
	for last := int64(-1); last != commands.Load(); {
		last = commands.Load()
		time.Sleep(100 * time.Millisecond)
	}
	mentioned := commands.Load()
	for _, id := range ids[:n] {
		if _, err := mentionErr(ctx, store, id, "Relayed"); err != nil {
			t.Fatal(err)
		}
	}
	if sent := commands.Load() - mentioned; sent != 2*n {
		t.Errorf("%d mentions sent MySQL %d commands, want %d", n, sent, 2*n)
	}
	waitForPublished(t, publisher, n)
	if sent := commands.Load() - mentioned; sent != 2*n {
		t.Errorf("the relay sent MySQL %d commands to publish, want 0", sent-2*n)
	}
	// One more event, published after the others: the relay is done with
	// their publishes when it stops.
	if _, err := mentionErr(ctx, store, ids[n], "Relayed"); err != nil {
		t.Fatal(err)
	}
	waitForPublished(t, publisher, n+1)
	published := commands.Load()
	if err := stopRelay(); err != nil {
		t.Fatal(err)
	}
	if sent := commands.Load() - published; sent != 1 {
		t.Errorf("the relay sent MySQL %d commands to delete the rows of %d events, want 1", sent, n+1)
	}
}

// newCountedMySQLStore is a MySQL store under test in a database of its own,
// with the count of the commands its connections send.
func newCountedMySQLStore(t *testing.T) (storeUnderTest, *atomic.Int64) {
	t.Helper()
	dsn, commands := testenv.CountedMySQLDatabase(t)
	pool, err := mysqldb.Open(dsn, mysqldb.PoolConfig{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	db, err := sqlstore.NewMySQL(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return newStoreUnderTest(t, db), commands
}
