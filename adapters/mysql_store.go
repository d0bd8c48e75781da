package adapters

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
)

var mysqlDialect = sqlDialect{
	name:                   "mysql",
	isolation:              sql.LevelReadCommitted,
	ignoreDuplicateCommand: " ON DUPLICATE KEY UPDATE id = id",
	upsertTech: " ON DUPLICATE KEY UPDATE mentions = VALUES(mentions), priority = VALUES(priority), " +
		"priority_rank = VALUES(priority_rank), updated_at = VALUES(updated_at)",
	insertPoisonedIfAbsent: "INSERT INTO poisoned_messages (uuid, topic, handler, reason, payload, metadata, poisoned_at) VALUES (?, ?, ?, ?, ?, ?, ?) " +
		"ON DUPLICATE KEY UPDATE id = id",
	// Assignments run left to right and all read the old status, so a processed
	// command keeps both its status and its (empty) error.
	markFailed: "INSERT INTO commands (id, status, error, accepted_at, updated_at) VALUES (?, ?, ?, ?, ?) " +
		"ON DUPLICATE KEY UPDATE error = IF(status = 'processed', error, VALUES(error)), " +
		"updated_at = IF(status = 'processed', updated_at, VALUES(updated_at)), " +
		"status = IF(status = 'processed', status, VALUES(status))",
	forUpdate:  " FOR UPDATE",
	skipLocked: " SKIP LOCKED",
	retryable:  isMySQLConflict,
}

// mysqlWriters is how many group-committed transactions of one kind run at
// once: a few overlap the commit of one batch with the statements of the next,
// more only contend for the same rows.
const mysqlWriters = 4

// isMySQLConflict is true for the errors a concurrent transaction causes: a
// deadlock, a lock wait timeout, or a unique key taken in the meantime.
func isMySQLConflict(err error) bool {
	var mysqlErr *mysql.MySQLError
	if !errors.As(err, &mysqlErr) {
		return false
	}
	switch mysqlErr.Number {
	case 1213, 1205, 1062:
		return true
	}
	return false
}

// MySQLPoolConfig sizes the connection pool.
type MySQLPoolConfig struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
}

// OpenMySQL opens a pool on dsn with the settings every user of it needs: times
// parsed as UTC, and statements interpolated client-side (one round trip each).
func OpenMySQL(dsn string, pool MySQLPoolConfig) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	if pool.MaxOpenConns > 0 {
		db.SetMaxOpenConns(pool.MaxOpenConns)
	}
	if pool.MaxIdleConns > 0 {
		db.SetMaxIdleConns(pool.MaxIdleConns)
	}
	if pool.ConnMaxLifetime > 0 {
		db.SetConnMaxLifetime(pool.ConnMaxLifetime)
	}
	return db, nil
}

// NewMySQLStore brings the schema of db up to date and returns the store on it,
// the store of the production backends. It does not own db: the caller closes it.
func NewMySQLStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("nil db")
	}
	if err := migrateMySQL(ctx, db); err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	return newSQLStore(db, db, mysqlDialect, mysqlWriters, nil), nil
}

// migrationLockTimeout bounds how long a process waits for another one's
// migrations: every api and worker process migrates at start.
const migrationLockTimeout = 60

// migrateMySQL applies the migrations under a named lock, so that processes
// starting together take turns instead of racing to create the same tables.
func migrateMySQL(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()

	var locked sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('techradar.migrations', ?)", migrationLockTimeout).Scan(&locked); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	if locked.Int64 != 1 {
		return fmt.Errorf("another process held the migration lock for %d s", migrationLockTimeout)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('techradar.migrations')")
	}()

	return migrate(ctx, db, goose.DialectMySQL, "mysql")
}
