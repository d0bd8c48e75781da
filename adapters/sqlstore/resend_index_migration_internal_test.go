package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/pressly/goose/v3"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// The migration that has the resender find the commands due through (status,
// updated_at) keeps what was due before it: a command resent before the
// migration is due a ResendAfter after that resend, not after its accept,
// and one never resent stays due. The index on (status, last_sent_at) is
// gone.
func TestResendIndexDroppedKeepingWhatIsDue(t *testing.T) {
	for _, store := range []struct {
		name    string
		dialect goose.Dialect
		// open opens the database before the migration; store opens it as
		// the application does, after.
		open       func(t *testing.T) *sql.DB
		store      func(t *testing.T, raw *sql.DB) *DB
		resendDues string // counts the indexes named commands_resend_due
	}{
		{
			name:    "sqlite",
			dialect: goose.DialectSQLite3,
			open: func(t *testing.T) *sql.DB {
				db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "techradar.db"))
				if err != nil {
					t.Fatal(err)
				}
				db.SetMaxOpenConns(1)
				return db
			},
			store: func(t *testing.T, raw *sql.DB) *DB {
				var path string
				if err := raw.QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
					t.Fatal(err)
				}
				if err := raw.Close(); err != nil {
					t.Fatal(err)
				}
				db, err := OpenSQLite(context.Background(), SQLiteConfig{Path: path})
				if err != nil {
					t.Fatal(err)
				}
				return db
			},
			resendDues: `SELECT COUNT(*) FROM pragma_index_list('commands') WHERE name = 'commands_resend_due'`,
		},
		{
			name:    "mysql",
			dialect: goose.DialectMySQL,
			open: func(t *testing.T) *sql.DB {
				db, err := mysqldb.Open(testenv.MySQLDatabase(t), mysqldb.PoolConfig{MaxOpenConns: 4})
				if err != nil {
					t.Fatal(err)
				}
				return db
			},
			store: func(t *testing.T, raw *sql.DB) *DB {
				db, err := NewMySQL(context.Background(), raw)
				if err != nil {
					t.Fatal(err)
				}
				return db
			},
			resendDues: `SELECT COUNT(*) FROM information_schema.statistics
				WHERE table_schema = DATABASE() AND table_name = 'commands' AND index_name = 'commands_resend_due'`,
		},
	} {
		t.Run(store.name, func(t *testing.T) {
			ctx := context.Background()
			raw := store.open(t)
			t.Cleanup(func() { _ = raw.Close() })
			provider, err := migrationProvider(raw, store.dialect, store.name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := provider.UpTo(ctx, 11); err != nil {
				t.Fatalf("migrating up to 11: %v", err)
			}
			const resendAfter = time.Minute
			now := time.Now().UTC()
			accepted := now.Add(-10 * resendAfter)
			insert := func(id string, lastSent time.Time, resends int) {
				t.Helper()
				if _, err := raw.ExecContext(ctx,
					"INSERT INTO commands (id, status, accepted_at, updated_at, message_topic, message_uuid, message_payload, message_metadata, last_sent_at, resends) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
					id, command.StatusPending, accepted, accepted, "commands.CreateTech", id+"-message", []byte(`{}`), `{}`, lastSent, resends); err != nil {
					t.Fatal(err)
				}
			}
			resentLately := testenv.UniqueName("resent-lately-")
			neverResent := testenv.UniqueName("never-resent-")
			insert(resentLately, now.Add(-resendAfter/2), 1)
			insert(neverResent, accepted, 0)

			if err := migrate(ctx, raw, store.dialect, store.name); err != nil {
				t.Fatal(err)
			}
			var indexes int
			if err := raw.QueryRowContext(ctx, store.resendDues).Scan(&indexes); err != nil {
				t.Fatal(err)
			}
			if indexes != 0 {
				t.Errorf("commands still has its index commands_resend_due")
			}

			db := store.store(t, raw)
			t.Cleanup(func() { _ = db.Close() })
			resender, err := NewCommandResender(db, claimOnlyPublisher{}, CommandResenderConfig{ResendAfter: resendAfter}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			due, err := resender.claimDue(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range due {
				ids = append(ids, c.ID)
			}
			if len(ids) != 1 || ids[0] != neverResent {
				t.Errorf("due after the migration: %v, want only %s (%s was resent %s ago)", ids, neverResent, resentLately, resendAfter/2)
			}
		})
	}
}

// claimOnlyPublisher is the publisher of a resender whose test only claims.
type claimOnlyPublisher struct{}

func (claimOnlyPublisher) Publish(string, ...*message.Message) error {
	return errors.New("the test claims, it does not publish")
}

func (claimOnlyPublisher) Close() error { return nil }
