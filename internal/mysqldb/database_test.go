package mysqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// server is a pool on the test server as root, and the server's DSN parsed.
func server(t *testing.T) (*sql.DB, *mysql.Config) {
	t.Helper()
	db, err := sql.Open("mysql", testenv.MySQLServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		testenv.Unavailable(t, "MariaDB at "+testenv.MySQLServerDSN(), err)
	}
	cfg, err := mysql.ParseDSN(testenv.MySQLServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	return db, cfg
}

// dropAfter drops database name when the test ends.
func dropAfter(t *testing.T, db *sql.DB, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+strings.ReplaceAll(name, "`", "``")+"`"); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
}

func databaseExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestEnsureDatabaseCreatesAMissingDatabase(t *testing.T) {
	root, cfg := server(t)
	// A backtick and a quote in the name prove it is quoted, not pasted.
	for _, name := range []string{testenv.UniqueName("techradar_new_"), testenv.UniqueName("tr`odd'name ")} {
		dropAfter(t, root, name)
		dsn := cfg.Clone()
		dsn.DBName = name
		if err := mysqldb.EnsureDatabase(context.Background(), dsn.FormatDSN()); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if !databaseExists(t, root, name) {
			t.Fatalf("database %q was not created", name)
		}
		var collation string
		if err := root.QueryRow("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&collation); err != nil {
			t.Fatal(err)
		}
		if collation != "utf8mb4_bin" {
			t.Errorf("%q: collation %s, want utf8mb4_bin", name, collation)
		}
		// A second start finds it there.
		if err := mysqldb.EnsureDatabase(context.Background(), dsn.FormatDSN()); err != nil {
			t.Fatalf("%q again: %v", name, err)
		}
		db, err := mysqldb.Open(dsn.FormatDSN(), mysqldb.PoolConfig{MaxOpenConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Ping(); err != nil {
			t.Errorf("%q: the pool cannot use the new database: %v", name, err)
		}
		_ = db.Close()
	}
}

func TestEnsureDatabaseNamesTheFixWhenTheAccountMayNotCreateIt(t *testing.T) {
	root, cfg := server(t)
	// One account may do nothing, so the server will not even say whether the
	// database exists; the other may read every database, so it learns the
	// database is unknown, but may not create it.
	for _, grant := range []string{"", "GRANT SELECT ON *.* TO '%s'@'%%'"} {
		user := testenv.UniqueName("tr_u_")
		// user is letters, digits and '_': safe to put in the statements,
		// which take no placeholders.
		const password = "not-a-secret"
		if _, err := root.Exec("CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + password + "'"); err != nil {
			t.Fatalf("creating user: %v", err)
		}
		t.Cleanup(func() { _, _ = root.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
		if grant != "" {
			if _, err := root.Exec(fmt.Sprintf(grant, user)); err != nil {
				t.Fatalf("granting: %v", err)
			}
		}

		name := testenv.UniqueName("techradar_denied_")
		dropAfter(t, root, name)
		dsn := cfg.Clone()
		dsn.User, dsn.Passwd, dsn.DBName = user, password, name
		err := mysqldb.EnsureDatabase(context.Background(), dsn.FormatDSN())
		if err == nil {
			t.Fatalf("no error for an account that may not create the database (grant %q)", grant)
		}
		for _, want := range []string{"MYSQL_DSN", name, "CREATE DATABASE IF NOT EXISTS `" + name + "`", "GRANT ALL PRIVILEGES ON `" + name + "`.* TO '" + user + "'"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if databaseExists(t, root, name) {
			t.Error("the database was created by an account that may not")
		}
	}
}

func TestEnsureDatabaseNeedsADatabaseName(t *testing.T) {
	err := mysqldb.EnsureDatabase(context.Background(), "root@tcp(127.0.0.1:3306)/")
	if err == nil || !strings.Contains(err.Error(), "MYSQL_DSN") {
		t.Fatalf("got %v, want an error naming MYSQL_DSN", err)
	}
}
