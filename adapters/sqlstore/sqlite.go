package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the pure-Go driver: no cgo
)

// SQLite is the store of the embedded mode: one local file.
//
// SQLite lets one writer in at a time, so writes go through a pool of one
// connection that begins every transaction IMMEDIATE (no upgrade deadlocks),
// while reads use a pool of their own and, in WAL mode, never wait for writers.
var sqliteDialect = dialect{
	IgnoreDuplicateCommand: " ON CONFLICT (id) DO NOTHING",
	UpsertTech: " ON CONFLICT (id) DO UPDATE SET mentions = excluded.mentions, priority = excluded.priority, " +
		"priority_rank = excluded.priority_rank, updated_at = excluded.updated_at",
	InsertPoisonedIfAbsent: "INSERT INTO poisoned_messages (uuid, topic, handler, reason, payload, metadata, poisoned_at) VALUES (?, ?, ?, ?, ?, ?, ?) " +
		"ON CONFLICT (uuid, handler) DO NOTHING",
	MarkFailed: "INSERT INTO commands (id, status, error, accepted_at, updated_at) VALUES (?, ?, ?, ?, ?) " +
		"ON CONFLICT (id) DO UPDATE SET status = excluded.status, error = excluded.error, updated_at = excluded.updated_at " +
		"WHERE commands.status <> 'processed'",
	PrepareWrites: true,
	ListedTechs:   "techs INDEXED BY techs_list_order",
	OneProcess:    true,
	// In WAL mode NORMAL commits to the log without a flush.
	SkipFlush: "PRAGMA synchronous = NORMAL",
	Flush:     "PRAGMA synchronous = " + sqliteSynchronous,
}

// sqliteSynchronous is the write pool's synchronous setting. FULL: a command
// is acknowledged only once its effect is on disk.
const sqliteSynchronous = "FULL"

// SQLiteConfig is the SQLite store's; its tags make it the SQLITE_ settings.
type SQLiteConfig struct {
	Path string `name:"path" env:"PATH" default:"data/techradar.db" help:"SQLite database file (STORE=sqlite)."`
}

// OpenSQLite opens (creating it if needed) the database at path and brings
// its schema up to date. Close closes it.
func OpenSQLite(ctx context.Context, config SQLiteConfig) (*DB, error) {
	path := config.Path
	if dir := filepath.Dir(path); dir != "" {
		// #nosec G301 -- the operator's own data directory, as mkdir would make it; the database file itself is the one to protect
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the directory of %s: %w", path, err)
		}
	}

	pragmas := url.Values{}
	pragmas.Add("_pragma", "busy_timeout(10000)")
	pragmas.Add("_pragma", "journal_mode(WAL)")
	pragmas.Add("_pragma", "synchronous("+sqliteSynchronous+")")
	// Statement journals in memory: a batch's statements each keep one, to
	// undo that statement alone, and past 64 KiB SQLite spills it to a
	// temporary file, a write per page that no crash needs. Under names
	// spread wide that was a third of the process's write calls. The
	// writer's temporary tables and sorts stay in memory too: its
	// transactions are batches of at most groupcommit.MaxBatch calls, and
	// a migration's index is built once.
	pragmas.Add("_pragma", "temp_store(MEMORY)")
	pragmas.Add("_txlock", "immediate")
	writeDB, err := sql.Open("sqlite", "file:"+path+"?"+pragmas.Encode())
	if err != nil {
		return nil, err
	}
	writeDB.SetMaxOpenConns(1)

	if err := migrate(ctx, writeDB, goose.DialectSQLite3, "sqlite"); err != nil {
		_ = writeDB.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}

	readPragmas := url.Values{}
	readPragmas.Add("_pragma", "busy_timeout(10000)")
	readPragmas.Add("_pragma", "query_only(1)")
	// Reads map the file instead of copying each page in with a system call:
	// a reader's page cache is emptied whenever a write commits, and under
	// load the list's pages were read in anew for every page of the list.
	// Each connection (8) maps at most the first 32 MiB of the file; pages
	// past it are read as before. The pages a connection touched count in
	// the process's resident set though the kernel keeps one copy: with 64
	// MiB, the embedded process peaked at 104–146 MB in six runs of the
	// bench, close to its 150 MB budget, and with 32 MiB at 100–105 MB in
	// three, as fast in two pairs run in turn. The price of a mapping: a
	// read error of the disk stops the process (SIGBUS) instead of failing
	// a request.
	readPragmas.Add("_pragma", "mmap_size(33554432)")
	readDB, err := sql.Open("sqlite", "file:"+path+"?"+readPragmas.Encode())
	if err != nil {
		_ = writeDB.Close()
		return nil, err
	}
	readDB.SetMaxOpenConns(8)
	readDB.SetMaxIdleConns(8)

	closeBoth := func() error { return errors.Join(readDB.Close(), writeDB.Close()) }
	return newDB(writeDB, readDB, sqliteDialect, closeBoth), nil
}
