package mysqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// countedPool opens a pool of one connection from mysqldb.Open on a fresh
// database with a table t, and a counter of the commands the pool sends.
func countedPool(t *testing.T) (*sql.DB, *atomic.Int64) {
	t.Helper()
	dsn, writes := testenv.CountedMySQLDatabase(t)
	db, err := mysqldb.Open(dsn, mysqldb.PoolConfig{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT NOT NULL) ENGINE = InnoDB"); err != nil {
		t.Fatal(err)
	}
	return db, writes
}

// begin begins a transaction on db, failing the test if it cannot.
func begin(t *testing.T, db *sql.DB, opts *sql.TxOptions) *sql.Tx {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// sent runs fn and returns how many commands it sent.
func sent(t *testing.T, writes *atomic.Int64, fn func() error) int64 {
	t.Helper()
	before := writes.Load()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
	return writes.Load() - before
}

func rowsOf(t *testing.T, db *sql.DB) map[int]int {
	t.Helper()
	rows, err := db.Query("SELECT id, v FROM t")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]int{}
	for rows.Next() {
		var id, v int
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		got[id] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkNoTransactionLeft fails the test when the pool's one connection is
// left in a transaction.
func checkNoTransactionLeft(t *testing.T, db *sql.DB) {
	t.Helper()
	var open int
	if err := db.QueryRow("SELECT @@in_transaction").Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Error("the connection was left in a transaction")
	}
}

func TestTransactionBeginsWithItsFirstStatementAndMayCommitWithItsLast(t *testing.T) {
	db, writes := countedPool(t)
	ctx := context.Background()

	// Without the pool's connections: START TRANSACTION, the SELECT, the
	// INSERT, COMMIT.
	n := sent(t, writes, func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		var count int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM t WHERE id = ? FOR UPDATE", 1).Scan(&count); err != nil {
			return err
		}
		if count != 0 {
			t.Errorf("SELECT after START TRANSACTION: %d rows, want 0", count)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (?, ?)", 1, 10); err != nil {
			return err
		}
		return tx.Commit()
	})
	if n != 3 {
		t.Errorf("a transaction of two statements sent %d commands, want 3 (START TRANSACTION with the first)", n)
	}

	n = sent(t, writes, func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (?, ?)", 2, 20); err != nil {
			return err
		}
		res, err := tx.ExecContext(mysqldb.WithCommit(ctx), "UPDATE t SET v = v + 1 WHERE id IN (?, ?)", 1, 2)
		if err != nil {
			return err
		}
		if affected, err := res.RowsAffected(); err != nil || affected != 2 {
			t.Errorf("the committing UPDATE counted %d rows (%v), want 2: its own, not the COMMIT's", affected, err)
		}
		return tx.Commit()
	})
	if n != 2 {
		t.Errorf("a transaction whose last statement commits sent %d commands, want 2", n)
	}
	if got := rowsOf(t, db); got[1] != 11 || got[2] != 21 {
		t.Errorf("rows %v, want both transactions committed: map[1:11 2:21]", got)
	}

	n = sent(t, writes, func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		return tx.Commit()
	})
	if n != 0 {
		t.Errorf("a transaction with no statement sent %d commands, want none", n)
	}
	checkNoTransactionLeft(t, db)
}

func TestTransactionBegunWithItsFirstStatementRollsBack(t *testing.T) {
	db, _ := countedPool(t)
	ctx := context.Background()
	if _, err := db.Exec("INSERT INTO t (id, v) VALUES (1, 10)"); err != nil {
		t.Fatal(err)
	}
	const (
		update    = "UPDATE t SET v = 99 WHERE id = 1"
		duplicate = "INSERT INTO t (id, v) VALUES (1, 0)"
	)
	type statement struct {
		query  string
		commit bool // run with WithCommit
		fails  bool
	}
	for _, c := range []struct {
		name       string
		statements []statement
	}{
		{"rolled back by the caller", []statement{{query: update}}},
		// The transaction began all the same.
		{"the first statement fails", []statement{{query: duplicate, fails: true}}},
		// The transaction is still open, and rolling it back undoes the
		// statement before.
		{"the committing statement fails", []statement{{query: update}, {query: duplicate, commit: true, fails: true}}},
	} {
		tx := begin(t, db, nil)
		for _, st := range c.statements {
			stmtCtx := ctx
			if st.commit {
				stmtCtx = mysqldb.WithCommit(ctx)
			}
			if _, err := tx.ExecContext(stmtCtx, st.query); (err != nil) != st.fails {
				t.Fatalf("%s: %s: error %v, want one: %t", c.name, st.query, err, st.fails)
			}
		}
		if err := tx.Rollback(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := rowsOf(t, db); len(got) != 1 || got[1] != 10 {
			t.Errorf("%s: rows %v, want map[1:10]", c.name, got)
		}
		checkNoTransactionLeft(t, db)
	}
}

func TestTransactionsThatPrepareOrNameALevelStillWork(t *testing.T) {
	db, _ := countedPool(t)
	ctx := context.Background()

	// A prepared statement is sent alone, after START TRANSACTION.
	tx := begin(t, db, nil)
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO t (id, v) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stmt.ExecContext(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	_ = stmt.Close()
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, db); len(got) != 0 {
		t.Errorf("rows %v after a rolled back prepared insert, want none", got)
	}

	// A transaction naming its level is begun by the driver, and a
	// committing statement in it leaves the commit to Commit.
	tx = begin(t, db, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if _, err := tx.ExecContext(mysqldb.WithCommit(ctx), "INSERT INTO t (id, v) VALUES (?, ?)", 2, 20); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, db); len(got) != 0 {
		t.Errorf("rows %v after a rolled back serializable insert, want none", got)
	}

	// Outside a transaction a committing statement is a statement.
	if _, err := db.ExecContext(mysqldb.WithCommit(ctx), "INSERT INTO t (id, v) VALUES (?, ?)", 3, 30); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, db); len(got) != 1 || got[3] != 30 {
		t.Errorf("rows %v, want map[3:30]", got)
	}
	checkNoTransactionLeft(t, db)
}

func TestNothingRunsInATransactionAfterItsCommittingStatement(t *testing.T) {
	db, _ := countedPool(t)
	ctx := context.Background()
	tx := begin(t, db, nil)
	if _, err := tx.ExecContext(mysqldb.WithCommit(ctx), "INSERT INTO t (id, v) VALUES (1, 10)"); err != nil {
		t.Fatal(err)
	}
	// Run after the COMMIT, it would be a transaction of its own.
	if _, err := tx.ExecContext(ctx, "INSERT INTO t (id, v) VALUES (2, 20)"); !errors.Is(err, mysqldb.ErrCommitted) {
		t.Errorf("an insert after the committing statement: %v, want ErrCommitted", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT 1").Err(); !errors.Is(err, mysqldb.ErrCommitted) {
		t.Errorf("a query after the committing statement: %v, want ErrCommitted", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, db); len(got) != 1 || got[1] != 10 {
		t.Errorf("rows %v, want map[1:10]: the committed insert alone", got)
	}
	checkNoTransactionLeft(t, db)
}

func TestStatementsSentAloneStillRunInTheTransaction(t *testing.T) {
	db, _ := countedPool(t)
	ctx := context.Background()
	insert := "INSERT INTO t (id, v) VALUES (?, ?)"

	// A statement prepared on the pool's one connection, reused in the
	// transaction: database/sql does not prepare it again.
	stmt, err := db.PrepareContext(ctx, insert)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	tx := begin(t, db, nil)
	if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	// A statement the driver cannot interpolate (an argument short) is
	// prepared instead: the transaction begins before it.
	tx = begin(t, db, nil)
	if _, err := tx.ExecContext(ctx, insert, 2); err == nil {
		t.Fatal("an insert short of an argument succeeded")
	}
	if _, err := tx.ExecContext(ctx, insert, 3, 30); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	if got := rowsOf(t, db); len(got) != 0 {
		t.Errorf("rows %v, want none: both transactions rolled back", got)
	}
	checkNoTransactionLeft(t, db)
}
