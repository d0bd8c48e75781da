package mysqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQL's error numbers that EnsureDatabase tells apart.
const (
	errUnknownDatabase   = 1049 // ER_BAD_DB_ERROR: the database does not exist
	errDBAccessDenied    = 1044 // ER_DBACCESS_DENIED_ERROR: the account may not use or create it
	errAccessDenied      = 1045 // ER_ACCESS_DENIED_ERROR: bad user or password
	errTableAccessDenied = 1142 // a command denied on a table or database
	errSpecificAccess    = 1227 // a global privilege is missing
)

// ensureTimeout bounds each step of EnsureDatabase, so that a server that does
// not answer fails the start instead of hanging it.
const ensureTimeout = 10 * time.Second

// EnsureDatabase makes sure the database dsn names exists, so that a fresh
// server works at the first start: when the server answers that the database
// is unknown, it connects without one and creates it (IF NOT EXISTS, so that
// processes starting together do not race), with the character set the
// migrations expect. When the account may not create it, the error names
// MYSQL_DSN, the database and the statements an administrator runs.
func EnsureDatabase(ctx context.Context, dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("MYSQL_DSN: %w", err)
	}
	if cfg.DBName == "" {
		return errors.New("MYSQL_DSN names no database: end it with /<database>, e.g. user:pass@tcp(127.0.0.1:3306)/techradar")
	}
	err = ping(ctx, cfg)
	var mysqlErr *mysql.MySQLError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mysqlErr) && mysqlErr.Number == errUnknownDatabase:
		return createDatabase(ctx, cfg)
	case errors.As(err, &mysqlErr) && mysqlErr.Number == errDBAccessDenied:
		// MySQL says so whether or not the database exists.
		return fmt.Errorf("MYSQL_DSN: user %q may not use database %q, or it does not exist (%v); as an administrator run: %s",
			cfg.User, cfg.DBName, err, fixStatements(cfg))
	default:
		return fmt.Errorf("MYSQL_DSN: cannot connect to database %q: %w", cfg.DBName, err)
	}
}

// createDatabase creates cfg's database over a connection that names none.
func createDatabase(ctx context.Context, cfg *mysql.Config) error {
	server := cfg.Clone()
	server.DBName = ""
	connector, err := mysql.NewConnector(server)
	if err != nil {
		return fmt.Errorf("MYSQL_DSN: %w", err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, ensureTimeout)
	defer cancel()
	_, err = db.ExecContext(ctx, createStatement(cfg.DBName))
	var mysqlErr *mysql.MySQLError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mysqlErr) && isDenied(mysqlErr.Number):
		return fmt.Errorf("MYSQL_DSN: database %q does not exist and user %q may not create it (%v); as an administrator run: %s",
			cfg.DBName, cfg.User, err, fixStatements(cfg))
	default:
		return fmt.Errorf("MYSQL_DSN: database %q does not exist and creating it failed: %w", cfg.DBName, err)
	}
}

func ping(ctx context.Context, cfg *mysql.Config) error {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, ensureTimeout)
	defer cancel()
	return db.PingContext(ctx)
}

func isDenied(number uint16) bool {
	switch number {
	case errDBAccessDenied, errAccessDenied, errTableAccessDenied, errSpecificAccess:
		return true
	}
	return false
}

// createStatement creates the database name with the character set and
// collation every table of the migrations uses.
func createStatement(name string) string {
	return "CREATE DATABASE IF NOT EXISTS " + quoteIdentifier(name) + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
}

// fixStatements is what an administrator runs so that cfg's account can use
// its database.
func fixStatements(cfg *mysql.Config) string {
	return createStatement(cfg.DBName) + "; GRANT ALL PRIVILEGES ON " + quoteIdentifier(cfg.DBName) + ".* TO " + quoteString(cfg.User) + "@'%';"
}

// quoteIdentifier quotes name as a MySQL identifier: in backticks, a backtick
// inside doubled, so that no name can end the identifier early.
func quoteIdentifier(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// quoteString quotes s as a MySQL string literal for a message to copy.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}
