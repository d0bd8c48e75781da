package service_test

import (
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/testenv"
)

// On a fresh server the database MYSQL_DSN names does not exist yet: the
// first start creates it and runs, for the store and the SQL transport alike.
func TestStartCreatesTheMySQLDatabaseOnAFreshServer(t *testing.T) {
	root, err := sql.Open("mysql", testenv.MySQLServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	// Closed as the test's last cleanup, after the drop registered below: a
	// deferred Close ran before the cleanups, and left the database behind.
	t.Cleanup(func() { _ = root.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := root.PingContext(ctx); err != nil {
		testenv.Unavailable(t, "MariaDB at "+testenv.MySQLServerDSN(), err)
	}
	name := testenv.UniqueName("techradar_fresh_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
	dsn, err := mysql.ParseDSN(testenv.MySQLServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	dsn.DBName = name

	cfg := embeddedConfig(t)
	cfg.Store, cfg.Transport, cfg.MySQL.DSN = config.StoreMySQL, config.TransportSQL, dsn.FormatDSN()
	r := start(t, cfg, config.RoleServe)
	if got := r.do(http.MethodPost, "/api/techs", `{"name":"Kafka"}`, nil); got.status != http.StatusAccepted {
		t.Fatalf("POST /api/techs on the new database: %d %s", got.status, got.body)
	}
}
