package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// queryAll gives each read its own result, in order, on both stores; on
// MySQL in one round trip, where a statement after the first that fails
// fails the whole, naming what failed.
func TestQueryAllGivesEachReadItsResult(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *DB{
		"sqlite": openSQLiteForStatements,
		"mysql": func(t *testing.T) *DB {
			pool, err := mysqldb.Open(testenv.MySQLDatabase(t), mysqldb.PoolConfig{MaxOpenConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			db := newMySQLOn(t, pool)
			if !db.sqlDialect().MultiStatements {
				t.Fatal("a pool from mysqldb.Open takes several statements in one query")
			}
			return db
		},
	} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			numbers := func(into *[]int) func(rows *sql.Rows) error {
				return func(rows *sql.Rows) error {
					for rows.Next() {
						var n int
						if err := rows.Scan(&n); err != nil {
							return err
						}
						*into = append(*into, n)
					}
					return nil
				}
			}
			var first, second, third []int
			err := db.inTx(ctx, func(tx *sql.Tx) error {
				return db.queryAll(ctx, tx,
					rowsRead{statement{"SELECT 1 UNION ALL SELECT ?", []any{2}}, "reading first", numbers(&first)},
					rowsRead{statement{"SELECT 3 WHERE 1 = 0", nil}, "reading second", numbers(&second)},
					rowsRead{statement{"SELECT ?", []any{4}}, "reading third", numbers(&third)},
				)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != 2 || first[0] != 1 || first[1] != 2 || len(second) != 0 || len(third) != 1 || third[0] != 4 {
				t.Fatalf("results %v, %v, %v; want [1 2], [], [4]", first, second, third)
			}

			var before []int
			err = db.inTx(ctx, func(tx *sql.Tx) error {
				return db.queryAll(ctx, tx,
					rowsRead{statement{"SELECT 1", nil}, "reading before", numbers(&before)},
					rowsRead{statement{"SELECT missing_column FROM outbox", nil}, "reading the missing column", numbers(new([]int))},
				)
			})
			if err == nil || !strings.Contains(err.Error(), "reading the missing column") || !strings.Contains(err.Error(), "missing_column") {
				t.Fatalf("error = %v, want one naming the failing read and its column", err)
			}
			if len(before) != 1 || before[0] != 1 {
				t.Errorf("the read before the failing one took %v, want [1]", before)
			}
			// The store retries a transaction on the driver's conflict errors,
			// which it finds by their type: a failing later statement keeps it.
			var mysqlErr *mysql.MySQLError
			if name == "mysql" && !errors.As(err, &mysqlErr) {
				t.Errorf("error %v does not wrap the driver's *mysql.MySQLError", err)
			}
		})
	}
}

// Several statements go in one query only where the pool both allows them
// and interpolates arguments: a query of several statements cannot be
// prepared.
func TestMySQLMultiStatementsNeedInterpolatedArguments(t *testing.T) {
	cfg, err := mysql.ParseDSN(testenv.MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MultiStatements, cfg.InterpolateParams, cfg.ParseTime = true, false, true
	pool, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	if newMySQLOn(t, pool).sqlDialect().MultiStatements {
		t.Fatal("a pool that prepares its arguments was given queries of several statements")
	}
}

// newMySQLOn is the store on pool, which it closes when the test ends.
func newMySQLOn(t *testing.T, pool *sql.DB) *DB {
	t.Helper()
	t.Cleanup(func() { _ = pool.Close() })
	db, err := NewMySQL(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return db
}
