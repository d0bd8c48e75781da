package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// On SQLite a statement of a transaction is prepared once, between
// transactions, and kept; at most maxWriteStatements of them.

func openSQLiteForStatements(t *testing.T) *DB {
	t.Helper()
	db, err := OpenSQLite(context.Background(), SQLiteConfig{Path: filepath.Join(t.TempDir(), "statements.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func countOutbox(t *testing.T, db *DB, query string) {
	t.Helper()
	err := db.inTx(context.Background(), func(tx *sql.Tx) error {
		var n int
		return db.queryRow(context.Background(), tx, query).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (db *DB) preparedWrite(query string) *sql.Stmt {
	db.writeStatementsMu.Lock()
	defer db.writeStatementsMu.Unlock()
	return db.writeStatements[query]
}

func TestSQLiteWriteStatementPreparedOnceAndKept(t *testing.T) {
	db := openSQLiteForStatements(t)
	const query = "SELECT COUNT(*) FROM outbox"
	countOutbox(t, db, query) // runs unprepared, noted
	countOutbox(t, db, query) // prepared before it
	first := db.preparedWrite(query)
	if first == nil {
		t.Fatal("the statement was not prepared after its first transaction")
	}
	countOutbox(t, db, query)
	if again := db.preparedWrite(query); again != first {
		t.Fatal("the statement was prepared again")
	}
}

func TestSQLiteWriteStatementsBounded(t *testing.T) {
	db := openSQLiteForStatements(t)
	// Transactions at once note statements while others prepare theirs.
	var running sync.WaitGroup
	for g := range 8 {
		running.Go(func() {
			for i := range maxWriteStatements / 4 {
				countOutbox(t, db, fmt.Sprintf("SELECT COUNT(*) + %d FROM outbox", g*maxWriteStatements+i))
			}
		})
	}
	running.Wait()
	countOutbox(t, db, "SELECT 1") // prepares the last ones noted
	db.writeStatementsMu.Lock()
	defer db.writeStatementsMu.Unlock()
	if n := len(db.writeStatements) + len(db.wantedWrites) + db.preparing; n > maxWriteStatements {
		t.Fatalf("%d statements kept, noted or being prepared, at most %d", n, maxWriteStatements)
	}
}
