package sqlstore

import "database/sql"

// Reader lets the contract suites look at tables no port reads (the outbox).
func (db *DB) Reader() *sql.DB { return db.reader() }
