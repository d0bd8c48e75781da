package sqlstore

import "database/sql"

// Reader lets the contract suites look at tables no port reads (the outbox).
func (db *DB) Reader() *sql.DB { return db.reader() }

// Writer lets a suite create tables of its own.
func (db *DB) Writer() *sql.DB { return db.writeDB }
