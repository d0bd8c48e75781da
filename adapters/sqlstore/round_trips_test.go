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
