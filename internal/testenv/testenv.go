// Package testenv gives tests the real services they run against: a fresh MySQL
// database and a private Redis key space per test.
//
// The addresses come from TECHRADAR_TEST_MYSQL_DSN and TECHRADAR_TEST_REDIS_ADDR
// (defaults: the local MariaDB and Redis of a developer machine). A service that
// does not answer fails the test under CI=true and skips it otherwise, saying how
// to start it.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/internal/rediskeys"
)

const howToStart = "run `make test` (it starts MariaDB and Redis, installing them if needed) or `scripts/test-services.sh`"

// MySQLServerDSN is the DSN of the test server, without a database.
func MySQLServerDSN() string {
	if dsn := os.Getenv("TECHRADAR_TEST_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// RedisAddr is the address of the test Redis.
func RedisAddr() string {
	if addr := os.Getenv("TECHRADAR_TEST_REDIS_ADDR"); addr != "" {
		return addr
	}
	return "127.0.0.1:6379"
}

// Unavailable fails the test under CI and skips it elsewhere.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available: %v; %s", service, err, howToStart)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// UniqueName is a name no other test uses: prefix plus random hex.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// MySQLDatabase creates an empty database for the test, drops it when the test
// ends, and returns its DSN.
func MySQLDatabase(t testing.TB) string {
	t.Helper()
	server, err := sql.Open("mysql", MySQLServerDSN())
	if err != nil {
		t.Fatalf("bad TECHRADAR_TEST_MYSQL_DSN: %v", err)
	}
	t.Cleanup(func() { _ = server.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.PingContext(ctx); err != nil {
		Unavailable(t, "MariaDB at "+MySQLServerDSN(), err)
	}

	name := UniqueName("techradar_test_")
	if _, err := server.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := server.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})

	cfg, err := mysql.ParseDSN(MySQLServerDSN())
	if err != nil {
		t.Fatalf("bad TECHRADAR_TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// Redis returns the options of the test Redis and a key prefix of the test's own.
// Each caller builds its own client from the options: a Watermill publisher or
// subscriber closes the client it is given.
func Redis(t testing.TB) (*redis.Options, string) {
	t.Helper()
	opts := &redis.Options{Addr: RedisAddr()}
	client := redis.NewClient(opts)
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		Unavailable(t, "Redis at "+RedisAddr(), err)
	}
	prefix := UniqueName("techradar-test-" + strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())) + "-")
	t.Cleanup(func() { deleteKeys(opts, prefix) })
	return opts, prefix
}

func deleteKeys(opts *redis.Options, prefix string) {
	client := redis.NewClient(opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = rediskeys.DeleteByPrefix(ctx, client, prefix)
}
