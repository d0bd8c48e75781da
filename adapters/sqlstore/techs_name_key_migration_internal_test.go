package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// The migration that drops the unique index on techs.name_key keeps every
// tech of a database made before it, and leaves no unique index but the
// primary key.
func TestTechsNameKeyIndexDroppedKeepingTheTechs(t *testing.T) {
	for _, store := range []struct {
		name        string
		open        func(t *testing.T) *sql.DB
		dialect     goose.Dialect
		uniqueOther string // counts the unique indexes of techs but the primary key
	}{
		{
			name: "sqlite",
			open: func(t *testing.T) *sql.DB {
				db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "techradar.db"))
				if err != nil {
					t.Fatal(err)
				}
				db.SetMaxOpenConns(1)
				return db
			},
			dialect:     goose.DialectSQLite3,
			uniqueOther: `SELECT COUNT(*) FROM pragma_index_list('techs') WHERE "unique" = 1 AND origin <> 'pk'`,
		},
		{
			name: "mysql",
			open: func(t *testing.T) *sql.DB {
				db, err := mysqldb.Open(testenv.MySQLDatabase(t), mysqldb.PoolConfig{MaxOpenConns: 2})
				if err != nil {
					t.Fatal(err)
				}
				return db
			},
			dialect: goose.DialectMySQL,
			uniqueOther: `SELECT COUNT(*) FROM information_schema.statistics
				WHERE table_schema = DATABASE() AND table_name = 'techs' AND non_unique = 0 AND index_name <> 'PRIMARY'`,
		},
	} {
		t.Run(store.name, func(t *testing.T) {
			ctx := context.Background()
			db := store.open(t)
			t.Cleanup(func() { _ = db.Close() })
			provider, err := migrationProvider(db, store.dialect, store.name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := provider.UpTo(ctx, 9); err != nil {
				t.Fatalf("migrating up to 9: %v", err)
			}
			name, err := tech.ParseName("Before The Migration")
			if err != nil {
				t.Fatal(err)
			}
			before := tech.New(name, tech.DefaultThresholdPolicy, time.Now())
			if _, err := db.ExecContext(ctx,
				"INSERT INTO techs (id, name_key, name, mentions, priority, priority_rank, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				before.ID, before.Key, before.Name, before.Mentions, before.Priority, before.Priority.Rank(), before.CreatedAt, before.UpdatedAt); err != nil {
				t.Fatal(err)
			}

			if err := migrate(ctx, db, store.dialect, store.name); err != nil {
				t.Fatal(err)
			}
			var key string
			if err := db.QueryRowContext(ctx, "SELECT name_key FROM techs WHERE id = ?", tech.IDForKey(before.Key)).Scan(&key); err != nil {
				t.Fatalf("the tech made before the migration: %v", err)
			}
			if key != before.Key {
				t.Errorf("name_key = %q, want %q", key, before.Key)
			}
			var unique int
			if err := db.QueryRowContext(ctx, store.uniqueOther).Scan(&unique); err != nil {
				t.Fatal(err)
			}
			if unique != 0 {
				t.Errorf("techs has %d unique indexes besides its primary key, want none", unique)
			}
		})
	}
}
