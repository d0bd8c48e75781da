package sqlstore

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The SQL helpers every part of the store shares.

// statement is one SQL statement and its arguments.
type statement struct {
	Query string
	Args  []any
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// sqlTime scans the time types of both drivers: time.Time from MySQL, and from
// SQLite either time.Time or the text it stored.
type sqlTime struct{ time.Time }

var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
}

func (t *sqlTime) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case time.Time:
		t.Time = v.UTC()
		return nil
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	for _, layout := range sqliteTimeLayouts {
		if parsed, err := time.Parse(layout, text); err == nil {
			t.Time = parsed.UTC()
			return nil
		}
	}
	return fmt.Errorf("cannot parse time %q", text)
}

// placeholderRows is the VALUES list of a statement inserting rows of width
// columns: (?, ?), (?, ?), ...
func placeholderRows(rows, width int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// placeholderList is (?, ?, ...) with n placeholders, for IN.
func placeholderList(n int) string {
	return placeholderRows(1, n)
}

// sortedUnique is values sorted, each once.
func sortedUnique(values []string) []string {
	values = slices.Clone(values)
	slices.Sort(values)
	return slices.Compact(values)
}

// nullSQLTime scans a nullable time column; NULL is the zero time.
type nullSQLTime struct{ sqlTime }

func (t *nullSQLTime) Scan(src any) error {
	if src == nil {
		*t = nullSQLTime{}
		return nil
	}
	return t.sqlTime.Scan(src)
}

func nullIfEmpty(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullIfZero(t time.Time) sql.NullTime { return sql.NullTime{Time: t.UTC(), Valid: !t.IsZero()} }
