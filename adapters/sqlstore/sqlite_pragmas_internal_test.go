package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"testing"
)

// The write connection keeps what a 202 and an ack rely on (WAL, a flush at
// every commit) and keeps its statement journals off the disk.
func TestSQLiteWriterSettings(t *testing.T) {
	db := openSQLiteForStatements(t)
	assertWriterFlushesEveryCommit(t, db)
	var tempStore string
	if err := db.writer().QueryRowContext(context.Background(), "PRAGMA temp_store").Scan(&tempStore); err != nil {
		t.Fatal(err)
	}
	if tempStore != "2" { // MEMORY
		t.Errorf("PRAGMA temp_store = %s, want 2 (memory)", tempStore)
	}
}

// A transaction that needs no flush of its own commits without one, and the
// write connection flushes every commit again afterwards, whether the
// transaction committed, failed or saw its context cancelled.
func TestSQLiteUnflushedTransactionLeavesTheWriterFlushing(t *testing.T) {
	db := openSQLiteForStatements(t)
	failure := errors.New("failed on purpose")
	for _, outcome := range []struct {
		name   string
		cancel bool
		err    error
	}{
		{name: "committed"},
		{name: "failed", err: failure},
		{name: "cancelled", cancel: true, err: context.Canceled},
	} {
		t.Run(outcome.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var during string
			err := db.runUnflushedTx(ctx, func(tx *sql.Tx) error {
				if err := tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&during); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "DELETE FROM outbox WHERE id = -1"); err != nil {
					return err
				}
				if outcome.cancel {
					cancel()
				}
				return outcome.err
			})
			if !errors.Is(err, outcome.err) {
				t.Fatalf("runUnflushedTx: %v, want %v", err, outcome.err)
			}
			if during != "1" { // NORMAL: in WAL mode, no flush at commit
				t.Errorf("PRAGMA synchronous in the transaction = %s, want 1 (normal)", during)
			}
			assertWriterFlushesEveryCommit(t, db)
		})
	}
}

func assertWriterFlushesEveryCommit(t *testing.T, db *DB) {
	t.Helper()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
	} {
		var got string
		if err := db.writer().QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// The read pool cannot write, and maps at most 32 MiB of the file.
func TestSQLiteReaderSettings(t *testing.T) {
	db := openSQLiteForStatements(t)
	for pragma, want := range map[string]string{
		"query_only": "1",
		"mmap_size":  "33554432",
	} {
		var got string
		if err := db.reader().QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}
