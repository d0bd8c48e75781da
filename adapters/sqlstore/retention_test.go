package sqlstore_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/sms"
	"github.com/techradar/techradar/internal/testenv"
)

func TestRetention(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("old closed rows go, a batch at a time", func(t *testing.T) { testRetention(t, db) })
			t.Run("rounds at once", func(t *testing.T) { testRetentionRoundsAtOnce(t, db) })
		})
	}
}

// testRetention writes commands and SMS records on both sides of a cutoff,
// then runs rounds of one row per batch and one batch per status until one
// finishes: only the closed ones from before the cutoff go, a round at a time.
func testRetention(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	store := newStoreUnderTest(t, db)

	oldPending := testenv.UniqueName("cmd-")
	if _, err := store.Accept(ctx, oldPending, time.Now().Add(-1000*time.Hour), nil, ""); err != nil {
		t.Fatal(err)
	}
	oldProcessed, oldFailed := testenv.UniqueName("cmd-"), testenv.UniqueName("cmd-")
	mention(t, store, oldProcessed, testenv.UniqueName("Old "))
	if err := store.MarkFailed(ctx, oldFailed, "no such thing"); err != nil {
		t.Fatal(err)
	}
	oldSent, oldFailedSMS, oldQueued := finishedSMS(t, store, sms.StatusSent), finishedSMS(t, store, sms.StatusFailed), finishedSMS(t, store, sms.StatusQueued)

	cutoff := instantAfterNow()
	recentProcessed, recentFailed := testenv.UniqueName("cmd-"), testenv.UniqueName("cmd-")
	mention(t, store, recentProcessed, testenv.UniqueName("Recent "))
	if err := store.MarkFailed(ctx, recentFailed, "no such thing"); err != nil {
		t.Fatal(err)
	}
	recentSent := finishedSMS(t, store, sms.StatusSent)

	const commandRetention, smsRetention = time.Hour, 2 * time.Hour
	retention, err := sqlstore.NewRetention(db, sqlstore.RetentionConfig{Commands: commandRetention, SMS: smsRetention, BatchSize: 1, MaxBatches: 1}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The SMS retention is the longer: at cutoff plus the commands', the
	// commands from before the cutoff go and every SMS record stays.
	var commands, smsRecords int64
	rounds := 0
	for now := cutoff.Add(commandRetention); ; rounds++ {
		report, err := retention.Clean(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if report.Commands > 2 || report.SMS > 2 {
			t.Fatalf("round %d deleted %+v: more than one batch of one row per status", rounds, report)
		}
		commands, smsRecords = commands+report.Commands, smsRecords+report.SMS
		if !report.Unfinished {
			break
		}
		if rounds > 20 {
			t.Fatal("the rounds never finish")
		}
	}
	// Two commands of techs, and those of the two SMS sent or failed.
	if commands != 4 || smsRecords != 0 || rounds < 3 {
		t.Fatalf("deleted %d commands and %d SMS records in %d rounds, want 4 and 0 in at least 3", commands, smsRecords, rounds)
	}
	assertCommands(t, store, map[string]bool{
		oldPending: true, oldProcessed: false, oldFailed: false, oldSent: false, oldFailedSMS: false,
		recentProcessed: true, recentFailed: true, recentSent: true,
	})

	// One sent and one failed: one batch each. (The recent commands go too,
	// now older than their retention.)
	report, err := retention.Clean(ctx, cutoff.Add(smsRetention))
	if err != nil || report.SMS != 2 {
		t.Fatalf("a round on the SMS records = %+v, %v, want both of them", report, err)
	}
	if report, err = retention.Clean(ctx, cutoff.Add(smsRetention)); err != nil || report.SMS != 0 {
		t.Fatalf("the next round = %+v, %v, want no SMS record left to delete", report, err)
	}
	for id, kept := range map[string]bool{oldSent: false, oldFailedSMS: false, oldQueued: true, recentSent: true} {
		if _, err := store.SMSReport(ctx, id); (err == nil) != kept {
			t.Errorf("SMS %s: kept %v, want %v (%v)", id, err == nil, kept, err)
		}
	}
}

// finishedSMS adds an SMS and takes it to status, which closes its command
// unless it is queued.
func finishedSMS(t *testing.T, store storeUnderTest, status sms.Status) string {
	t.Helper()
	s := newQueuedSMS(t, "retention")
	addSMS(t, store, s)
	if status == sms.StatusQueued {
		return s.ID
	}
	_, err := store.UpdateSMS(context.Background(), s.ID, func(ctx context.Context, got *sms.SMS, events command.EventPublisher) (bool, error) {
		var event any
		var err error
		if status == sms.StatusSent {
			event, err = got.MarkSent("provider-1", time.Now())
		} else {
			event, err = got.MarkFailed("refused", time.Now())
		}
		if err != nil {
			return false, err
		}
		return true, events.Publish(ctx, event)
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// instantAfterNow returns once a time is past that is later than every time
// written so far, even at the millisecond: it divides the rows written before
// the call from those written after.
func instantAfterNow() time.Time {
	instant := time.Now().Truncate(time.Millisecond).Add(2 * time.Millisecond)
	for time.Now().Before(instant.Add(time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
	return instant
}

func assertCommands(t *testing.T, store storeUnderTest, kept map[string]bool) {
	t.Helper()
	for id, want := range kept {
		_, err := store.CommandReport(context.Background(), id)
		if got := err == nil; got != want || (err != nil && apperr.CodeOf(err) != apperr.NotFound) {
			t.Errorf("command %s: kept %v, want %v (%v)", id, got, want, err)
		}
	}
}

// testRetentionRoundsAtOnce: every worker runs the retention; rounds that
// overlap delete each row once, fail on no lock, and leave pending commands.
func testRetentionRoundsAtOnce(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	store := newStoreUnderTest(t, db)
	retention, err := sqlstore.NewRetention(db, sqlstore.RetentionConfig{Commands: time.Hour, SMS: time.Hour, BatchSize: 3, MaxBatches: 100}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	// What the case before left on the store goes first.
	if _, err := retention.Clean(ctx, instantAfterNow().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	const closed = 40
	for i := range closed {
		if err := store.MarkFailed(ctx, testenv.UniqueName("cmd-"), "refused"); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := store.Accept(ctx, testenv.UniqueName("cmd-"), time.Now(), nil, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	cutoff := instantAfterNow()
	var (
		wg      sync.WaitGroup
		deleted atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			report, err := retention.Clean(ctx, cutoff.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			deleted.Add(report.Commands)
		})
	}
	wg.Wait()
	if got := deleted.Load(); got != closed {
		t.Fatalf("rounds at once deleted %d commands, want %d", got, closed)
	}
}
