package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// At the rates a command is handled alone, round trips, not rows, set what
// MySQL costs (docs/BENCHMARKS.md): the command handler's transaction, for a
// command the API recorded, takes two: START TRANSACTION with the locking
// reads of the command's row and of the tech, then the writes with COMMIT.
func TestMySQLMentionTakesTwoRoundTrips(t *testing.T) {
	t.Parallel()
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
	store := newStoreUnderTest(t, db)
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
	store := newStoreUnderTest(t, db)
	ctx := context.Background()
	publisher := &recordingPublisher{}
	stopRelay := runRelay(t, store, publisher, sqlstore.OutboxRelayConfig{PollInterval: time.Hour, DeleteDelay: time.Hour})

	const n = 3
	ids := make([]string, n)
	for i := range ids {
		ids[i] = testenv.UniqueName("command-")
		if _, err := store.Accept(ctx, ids[i], time.Now(), command.CreateTech{CommandID: ids[i], Name: "Relayed"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the relay's first rescue round is over
	for _, id := range ids {
		if _, err := mentionErr(ctx, store, id, "Relayed"); err != nil {
			t.Fatal(err)
		}
	}
	mentioned := commands.Load()
	waitForPublished(t, publisher, n)
	published := commands.Load()
	if sent := published - mentioned; sent != 0 {
		t.Errorf("the relay sent MySQL %d commands to publish, want 0", sent)
	}
	if err := stopRelay(); err != nil {
		t.Fatal(err)
	}
	if sent := commands.Load() - published; sent != 1 {
		t.Errorf("the relay sent MySQL %d commands to delete %d rows, want 1", sent, n)
	}
}
