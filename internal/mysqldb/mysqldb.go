// Package mysqldb opens MySQL connection pools the way every part of
// techradar that speaks to MySQL needs them: the store and the SQL transport.
package mysqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/techradar/techradar/internal/settings"
)

// Config is the connection to MySQL, which the MySQL store and the SQL
// transport share, each with a pool of its own; its tags make it the MYSQL_
// settings.
type Config struct {
	DSN          string `name:"dsn" env:"DSN" help:"MySQL DSN, e.g. user:pass@tcp(127.0.0.1:3306)/techradar (STORE=mysql or TRANSPORT=sql)."`
	MaxOpenConns int    `name:"max-open-conns" env:"MAX_OPEN_CONNS" default:"32" help:"Largest number of open MySQL connections."`
}

// Check reports every setting out of range, naming its variable. The DSN is
// not among them: only some backends need it.
func (c Config) Check() error {
	var p settings.Problems
	if c.MaxOpenConns < 1 {
		p.Add("MYSQL_MAX_OPEN_CONNS", "must be at least 1, got %d", c.MaxOpenConns)
	}
	return p.Err()
}

// Pool sizes each pool on c: as many idle connections as open ones, renewed
// every five minutes.
func (c Config) Pool() PoolConfig {
	return PoolConfig{MaxOpenConns: c.MaxOpenConns, MaxIdleConns: c.MaxOpenConns, ConnMaxLifetime: 5 * time.Minute}
}

// PoolConfig sizes the connection pool.
type PoolConfig struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
}

// Open opens a pool on dsn with the settings every user of it needs: times
// parsed as UTC, statements interpolated client-side (one round trip each),
// several statements allowed in one query (all of them interpolated, never
// built from input), affected rows counted as changed rather than found,
// sessions that run read committed, so that a transaction needs no statement
// of its own to set its level, and transactions that begin with their first
// statement and may commit with their last (WithCommit).
func Open(dsn string, pool PoolConfig) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	cfg.MultiStatements = true
	// An upsert that changes nothing must count no row: the command log tells
	// a command it recorded from one recorded before by that count, and
	// exactly-once rests on it. A DSN asking for found rows is overridden.
	cfg.ClientFoundRows = false
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(sessionConnector{connector})
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

// sessionConnector makes every session of its pool read committed as it
// connects, with transactions that begin with their first statement.
type sessionConnector struct {
	driver.Connector
}

func (c sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
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
	deferred, err := newDeferredBeginConn(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return deferred, nil
}
