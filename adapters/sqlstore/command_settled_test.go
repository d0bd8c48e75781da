package sqlstore_test

import (
	"context"
	"testing"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/testenv"
)

// A log that remembers settled outcomes tells what its own mention
// transaction made of a command, once, and the same as the log holds; one
// that does not, or a command it did not process, is left to the log.
func TestCommandLogSettledOutcomes(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			remembering, err := sqlstore.NewCommandLog(db, sqlstore.WithSettledOutcomes())
			if err != nil {
				t.Fatal(err)
			}
			plain, err := sqlstore.NewCommandLog(db)
			if err != nil {
				t.Fatal(err)
			}
			outbox, err := sqlstore.NewOutbox(db, eventBusFactory)
			if err != nil {
				t.Fatal(err)
			}
			techs, err := sqlstore.NewTechRepository(db, remembering, outbox)
			if err != nil {
				t.Fatal(err)
			}
			name, err := tech.ParseName(testenv.UniqueName("Settled "))
			if err != nil {
				t.Fatal(err)
			}
			id := testenv.UniqueName("settled-cmd-")
			if applied, err := techs.MentionTech(ctx, id, name.Key(), mentionOf(name, id)); err != nil || !applied {
				t.Fatalf("MentionTech: applied %v, %v", applied, err)
			}

			report, err := remembering.CommandReport(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := plain.TakeSettledOutcome(id); ok {
				t.Fatalf("a log without WithSettledOutcomes told %q", got)
			}
			got, ok := remembering.TakeSettledOutcome(id)
			if !ok || got != report.TechID || report.Status != "processed" {
				t.Fatalf("TakeSettledOutcome = %q, %v; the log holds %+v", got, ok, report)
			}
			if got, ok := remembering.TakeSettledOutcome(id); ok {
				t.Fatalf("a second take told %q", got)
			}

			// A second delivery changes nothing and is not remembered.
			if applied, err := techs.MentionTech(ctx, id, name.Key(), mentionOf(name, id)); err != nil || applied {
				t.Fatalf("second delivery: applied %v, %v", applied, err)
			}
			if got, ok := remembering.TakeSettledOutcome(id); ok {
				t.Fatalf("a second delivery was remembered: %q", got)
			}
			if got, ok := remembering.TakeSettledOutcome("never-sent"); ok {
				t.Fatalf("an unknown command told %q", got)
			}
		})
	}
}
