package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// unmigratedDatabase is an empty database of one dialect, for a test of one
// migration: migrated up to the version before it, given the rows a
// deployment made then, then migrated to the end.
type unmigratedDatabase struct {
	name    string // the dialect's migrations directory
	dialect goose.Dialect
	// asStore is the store over db, as the application opens it, for the
	// code of today to run on the migrated rows.
	asStore func(db *sql.DB) (*DB, error)
}

func unmigratedDatabases() []unmigratedDatabase {
	return []unmigratedDatabase{
		{
			name:    "sqlite",
			dialect: goose.DialectSQLite3,
			asStore: func(db *sql.DB) (*DB, error) { return newDB(db, db, sqliteDialect, nil), nil },
		},
		{
			name:    "mysql",
			dialect: goose.DialectMySQL,
			asStore: func(db *sql.DB) (*DB, error) { return NewMySQL(context.Background(), db) },
		},
	}
}

// open opens a new empty database, closed when the test ends.
func (d unmigratedDatabase) open(t *testing.T) *sql.DB {
	t.Helper()
	var (
		db  *sql.DB
		err error
	)
	if d.dialect == goose.DialectSQLite3 {
		db, err = sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "techradar.db"))
		if err == nil {
			db.SetMaxOpenConns(1)
		}
	} else {
		db, err = mysqldb.Open(testenv.MySQLDatabase(t), mysqldb.PoolConfig{MaxOpenConns: 4})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// migrateUpTo applies the migrations of the dialect up to version.
func (d unmigratedDatabase) migrateUpTo(t *testing.T, db *sql.DB, version int64) {
	t.Helper()
	provider, err := migrationProvider(db, d.dialect, d.name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(context.Background(), version); err != nil {
		t.Fatalf("migrating up to %d: %v", version, err)
	}
}

// migrateAll applies every migration left.
func (d unmigratedDatabase) migrateAll(t *testing.T, db *sql.DB) {
	t.Helper()
	if err := migrate(context.Background(), db, d.dialect, d.name); err != nil {
		t.Fatal(err)
	}
}
