package adapters

import (
	"context"
	"database/sql"
	"database/sql/driver"
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
// parsed as UTC, statements interpolated client-side (one round trip each),
// several statements allowed in one query (all of them interpolated, never
// built from input), and sessions that run read committed, so that a transaction needs no statement
// of its own to set its level.
func OpenMySQL(dsn string, pool MySQLPoolConfig) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	cfg.MultiStatements = true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(readCommittedConnector{connector})
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

// readCommittedConnector makes every session of its pool read committed as
// it connects.
type readCommittedConnector struct {
	driver.Connector
}

func (c readCommittedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	execer, ok := conn.(driver.ExecerContext)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("mysql: the driver's connection cannot execute statements")
	}
	if _, err := execer.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", nil); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("mysql: setting the isolation level: %w", err)
	}
	return conn, nil
}

// sessionIsolation is the isolation level the sessions of db run at, as the
// server names it: READ-COMMITTED, REPEATABLE-READ...
func sessionIsolation(ctx context.Context, db *sql.DB) (string, error) {
	var level string
	// MariaDB and MySQL before 8.0 name it tx_isolation, MySQL 8.0 only
	// transaction_isolation.
	err := db.QueryRowContext(ctx, "SELECT @@SESSION.tx_isolation").Scan(&level)
	if err != nil {
		err = db.QueryRowContext(ctx, "SELECT @@SESSION.transaction_isolation").Scan(&level)
	}
	return level, err
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
	dialect := mysqlDialect
	if level, err := sessionIsolation(ctx, db); err == nil && level == "READ-COMMITTED" {
		// A pool from OpenMySQL: its transactions need not set their level.
		dialect.isolation = sql.LevelDefault
	}
	if _, err := db.ExecContext(ctx, "DO 1; DO 1"); err == nil {
		// A pool from OpenMySQL: a batch's writes go in one round trip.
		dialect.multiStatements = true
	}
	return newSQLStore(db, db, dialect, nil), nil
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
