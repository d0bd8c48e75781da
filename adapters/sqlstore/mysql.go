package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
)

var mysqlDialect = dialect{
	Isolation:              sql.LevelReadCommitted,
	ListedTechs:            "techs",
	IgnoreDuplicateCommand: " ON DUPLICATE KEY UPDATE id = id",
	UpsertTech: " ON DUPLICATE KEY UPDATE mentions = VALUES(mentions), priority = VALUES(priority), " +
		"priority_rank = VALUES(priority_rank), updated_at = VALUES(updated_at)",
	InsertPoisonedIfAbsent: "INSERT INTO poisoned_messages (uuid, topic, handler, reason, payload, metadata, poisoned_at) VALUES (?, ?, ?, ?, ?, ?, ?) " +
		"ON DUPLICATE KEY UPDATE id = id",
	// Assignments run left to right and all read the old status, so a processed
	// command keeps both its status and its (empty) error.
	MarkFailed: "INSERT INTO commands (id, status, error, accepted_at, updated_at) VALUES (?, ?, ?, ?, ?) " +
		"ON DUPLICATE KEY UPDATE error = IF(status = 'processed', error, VALUES(error)), " +
		"updated_at = IF(status = 'processed', updated_at, VALUES(updated_at)), " +
		"status = IF(status = 'processed', status, VALUES(status))",
	ForUpdate:  " FOR UPDATE",
	SkipLocked: " SKIP LOCKED",
	Retryable:  isMySQLConflict,
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

// NewMySQL brings the schema of db up to date and returns the DB on it, the
// store of the production backends. It does not own db: the caller closes it.
func NewMySQL(ctx context.Context, db *sql.DB) (*DB, error) {
	if db == nil {
		return nil, errors.New("nil db")
	}
	if err := migrateMySQL(ctx, db); err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	d := mysqlDialect
	if level, err := sessionIsolation(ctx, db); err == nil && level == "READ-COMMITTED" {
		// A pool from mysqldb.Open: its transactions need not set their level.
		d.Isolation = sql.LevelDefault
	}
	if _, err := db.ExecContext(ctx, "DO ?; DO ?", 1, 1); err == nil {
		// A pool from mysqldb.Open: a batch's writes go in one round trip.
		// The placeholders make sure the pool also interpolates arguments:
		// a query of several statements cannot be prepared.
		d.MultiStatements = true
	}
	return newDB(db, db, d, nil), nil
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
