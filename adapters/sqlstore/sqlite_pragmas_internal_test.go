package sqlstore

import (
	"context"
	"testing"
)

// The write connection keeps what a 202 and an ack rely on (WAL, a flush at
// every commit) and keeps its statement journals off the disk.
func TestSQLiteWriterSettings(t *testing.T) {
	db := openSQLiteForStatements(t)
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"temp_store":   "2", // MEMORY
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
