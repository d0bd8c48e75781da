package sqlstore

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/testenv"
)

// The migration that has the resender find the commands due through (status,
// updated_at) keeps what was due before it: a command resent before the
// migration is due a ResendAfter after that resend, not after its accept,
// and one never resent stays due. The index on (status, last_sent_at) is
// gone.
func TestResendIndexDroppedKeepingWhatIsDue(t *testing.T) {
	// resendDues counts the indexes named commands_resend_due.
	resendDues := map[string]string{
		"sqlite": `SELECT COUNT(*) FROM pragma_index_list('commands') WHERE name = 'commands_resend_due'`,
		"mysql": `SELECT COUNT(*) FROM information_schema.statistics
			WHERE table_schema = DATABASE() AND table_name = 'commands' AND index_name = 'commands_resend_due'`,
	}
	for _, database := range unmigratedDatabases() {
		t.Run(database.name, func(t *testing.T) {
			ctx := context.Background()
			raw := database.open(t)
			database.migrateUpTo(t, raw, 11)
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

			database.migrateAll(t, raw)
			var indexes int
			if err := raw.QueryRowContext(ctx, resendDues[database.name]).Scan(&indexes); err != nil {
				t.Fatal(err)
			}
			if indexes != 0 {
				t.Errorf("commands still has its index commands_resend_due")
			}

			db, err := database.asStore(raw)
			if err != nil {
				t.Fatal(err)
			}
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
