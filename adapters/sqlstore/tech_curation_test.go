package sqlstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/testenv"
)

func TestTechCuration(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		store := newStoreUnderTest(t, db)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("retire applied once, hidden from the list", func(t *testing.T) { t.Parallel(); testRetireOnce(t, store) })
			t.Run("retire a missing tech fails the command", func(t *testing.T) { t.Parallel(); testRetireMissing(t, store) })
			t.Run("merge moves mentions and makes an alias", func(t *testing.T) { t.Parallel(); testMerge(t, store) })
			t.Run("merge refusals fail the command", func(t *testing.T) { t.Parallel(); testMergeRefused(t, store) })
			t.Run("aliases follow a target merged in turn", func(t *testing.T) { t.Parallel(); testMergeChain(t, store) })
		})
	}
}

// retire is what RetireTech's handler does to the tech.
func retire(commandID, reason string, calls *atomic.Int32) command.TechChange {
	return func(ctx context.Context, techs []*tech.Tech, events command.EventPublisher) (bool, error) {
		calls.Add(1)
		changed, err := techs[0].Retire(reason, time.Now())
		if err != nil || !changed {
			return false, errors.Join(err)
		}
		return true, events.Publish(ctx, techs[0].Retired(commandID))
	}
}

// merge is what MergeTech's handler does to the techs.
func merge(commandID string) command.TechChange {
	return func(ctx context.Context, techs []*tech.Tech, events command.EventPublisher) (bool, error) {
		dup, target := techs[0], techs[len(techs)-1]
		changed, err := dup.MergeInto(target, policy, time.Now())
		if err != nil {
			return false, &apperr.Error{Code: apperr.Invalid, Message: err.Error()}
		}
		if !changed {
			return false, nil
		}
		return true, events.Publish(ctx, dup.Merged(*target, commandID))
	}
}

func outboxCount(t *testing.T, store storeUnderTest, topic, commandID string) int {
	t.Helper()
	rows, err := store.db.Reader().QueryContext(context.Background(), "SELECT payload FROM outbox WHERE topic = ?", topic)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(payload), commandID) {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func inList(t *testing.T, store storeUnderTest, id string) bool {
	t.Helper()
	techs, err := store.ListTechs(context.Background(), 500, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range techs {
		if tt.ID == id {
			return true
		}
	}
	return false
}

func testRetireOnce(t *testing.T, store storeUnderTest) {
	ctx := context.Background()
	target := newTech(t, store)
	id := testenv.UniqueName("cmd-")

	const deliveries = 8
	var (
		wg           sync.WaitGroup
		calls, count atomic.Int32
		errs         = make([]error, deliveries)
	)
	for i := range deliveries {
		wg.Go(func() {
			applied, err := store.ChangeTechs(ctx, id, []string{target.ID}, retire(id, "superseded", &calls))
			if applied {
				count.Add(1)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if count.Load() != 1 || calls.Load() != 1 {
		t.Fatalf("applied %d times, change ran %d times", count.Load(), calls.Load())
	}
	got, err := store.TechByID(ctx, target.ID)
	if err != nil || got.Status != tech.StatusRetired || got.RetiredReason != "superseded" || got.RetiredAt == nil {
		t.Fatalf("retired tech = %+v, %v", got, err)
	}
	if inList(t, store, target.ID) {
		t.Fatal("a retired tech is in the list")
	}
	if n := outboxCount(t, store, "events.TechRetired", id); n != 1 {
		t.Fatalf("%d TechRetired events in the outbox, want 1", n)
	}
	if status, err := store.TechStatus(ctx, target.ID); err != nil || status != tech.StatusRetired {
		t.Fatalf("TechStatus = %s, %v", status, err)
	}

	// Retired again by another command: processed, nothing changes, no event.
	again := testenv.UniqueName("cmd-")
	if _, err := store.ChangeTechs(ctx, again, []string{target.ID}, retire(again, "other", &calls)); err != nil {
		t.Fatal(err)
	}
	if got2, _ := store.TechByID(ctx, target.ID); got2.RetiredReason != "superseded" || outboxCount(t, store, "events.TechRetired", again) != 0 {
		t.Fatalf("a second retirement changed the tech: %+v", got2)
	}
	if report, err := store.CommandReport(ctx, again); err != nil || report.Status != string(command.StatusProcessed) {
		t.Fatalf("second retirement's report = %+v, %v", report, err)
	}
	// A mention of a retired tech counts, and it stays retired.
	mention(t, store, testenv.UniqueName("cmd-"), target.Name)
	if got3, _ := store.TechByID(ctx, target.ID); got3.Mentions != target.Mentions+1 || got3.Status != tech.StatusRetired {
		t.Fatalf("after a mention: %+v", got3)
	}
}

func testRetireMissing(t *testing.T, store storeUnderTest) {
	ctx := context.Background()
	id := testenv.UniqueName("cmd-")
	var calls atomic.Int32
	_, err := store.ChangeTechs(ctx, id, []string{"no-such-tech"}, retire(id, "", &calls))
	if apperr.CodeOf(err) != apperr.NotFound || calls.Load() != 0 {
		t.Fatalf("ChangeTechs on a missing tech = %v (change ran %d times)", err, calls.Load())
	}
	report, err := store.CommandReport(ctx, id)
	if err != nil || report.Status != string(command.StatusFailed) || !strings.Contains(report.Error, "no tech with id") {
		t.Fatalf("report = %+v, %v", report, err)
	}
	// Redelivered, it stays failed and runs nothing.
	if applied, err := store.ChangeTechs(ctx, id, []string{"no-such-tech"}, retire(id, "", &calls)); applied || err != nil || calls.Load() != 0 {
		t.Fatalf("redelivery: %v, %v", applied, err)
	}
}

func mentionTimes(t *testing.T, store storeUnderTest, name string, n int) {
	t.Helper()
	for range n {
		mention(t, store, testenv.UniqueName("cmd-"), name)
	}
}

func testMerge(t *testing.T, store storeUnderTest) {
	ctx := context.Background()
	dupName, targetName := testenv.UniqueName("Postgres "), testenv.UniqueName("PostgreSQL ")
	mentionTimes(t, store, dupName, 2)
	mentionTimes(t, store, targetName, 1)
	dup, target := techNamed(t, store, dupName), techNamed(t, store, targetName)

	id := testenv.UniqueName("cmd-")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = store.ChangeTechs(ctx, id, []string{dup.ID, target.ID}, merge(id)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	gotTarget := techNamed(t, store, targetName)
	if gotTarget.Mentions != 3 || gotTarget.Priority != tech.PriorityMedium || gotTarget.Status != tech.StatusActive {
		t.Fatalf("target after merge = %+v", gotTarget)
	}
	gotDup := techNamed(t, store, dupName)
	if gotDup.Status != tech.StatusMerged || gotDup.MergedInto != target.ID || gotDup.MergedAt == nil {
		t.Fatalf("duplicate after merge = %+v", gotDup)
	}
	if inList(t, store, dup.ID) || !inList(t, store, target.ID) {
		t.Fatal("the list shows the duplicate or hides the target")
	}
	if n := outboxCount(t, store, "events.TechMerged", id); n != 1 {
		t.Fatalf("%d TechMerged events, want 1", n)
	}
	if report, err := store.CommandReport(ctx, id); err != nil || report.TechID != target.ID {
		t.Fatalf("report = %+v, %v", report, err)
	}

	// The duplicate's name is an alias now: its mentions count for the target.
	aliasCmd := testenv.UniqueName("cmd-")
	mention(t, store, aliasCmd, strings.ToUpper(dupName))
	if got := techNamed(t, store, targetName); got.Mentions != 4 {
		t.Fatalf("target after a mention of the alias = %+v", got)
	}
	if got := techNamed(t, store, dupName); got.Mentions != 2 {
		t.Fatalf("the duplicate counted the mention: %+v", got)
	}
	if report, err := store.CommandReport(ctx, aliasCmd); err != nil || report.TechID != target.ID {
		t.Fatalf("alias mention report = %+v, %v", report, err)
	}
	// The alias and the target mentioned in one batch both count.
	var mentions sync.WaitGroup
	for i := range 10 {
		mentions.Go(func() {
			n := dupName
			if i%2 == 0 {
				n = targetName
			}
			if _, err := mentionErr(ctx, store, testenv.UniqueName("cmd-"), n); err != nil {
				t.Error(err)
			}
		})
	}
	mentions.Wait()
	if got := techNamed(t, store, targetName); got.Mentions != 14 || got.Priority != tech.PriorityHigh {
		t.Fatalf("target after concurrent mentions = %+v", got)
	}
}

func testMergeRefused(t *testing.T, store storeUnderTest) {
	ctx := context.Background()
	a, b := newTech(t, store), newTech(t, store)
	retiredCmd := testenv.UniqueName("cmd-")
	var calls atomic.Int32
	if _, err := store.ChangeTechs(ctx, retiredCmd, []string{b.ID}, retire(retiredCmd, "", &calls)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ids  []string
		want string
	}{
		{"into itself", []string{a.ID}, "itself"},
		{"into a retired tech", []string{a.ID, b.ID}, "retired or merged"},
		{"into a missing tech", []string{a.ID, "no-such-tech"}, "no tech with id"},
	} {
		id := testenv.UniqueName("cmd-")
		if _, err := store.ChangeTechs(ctx, id, tc.ids, merge(id)); err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		report, err := store.CommandReport(ctx, id)
		if err != nil || report.Status != string(command.StatusFailed) || !strings.Contains(report.Error, tc.want) {
			t.Fatalf("%s: report = %+v, %v", tc.name, report, err)
		}
		if n := outboxCount(t, store, "events.TechMerged", id); n != 0 {
			t.Fatalf("%s: a refused merge left %d events", tc.name, n)
		}
	}
	if got, _ := store.TechByID(ctx, a.ID); got.Mentions != a.Mentions || got.Status != tech.StatusActive {
		t.Fatalf("refused merges changed the tech: %+v", got)
	}
}

func testMergeChain(t *testing.T, store storeUnderTest) {
	ctx := context.Background()
	first, second, third := newTech(t, store), newTech(t, store), newTech(t, store)
	for _, ids := range [][]string{{first.ID, second.ID}, {second.ID, third.ID}} {
		id := testenv.UniqueName("cmd-")
		if _, err := store.ChangeTechs(ctx, id, ids, merge(id)); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := store.TechByID(ctx, first.ID); got.MergedInto != third.ID {
		t.Fatalf("the first alias points at %s, want the last target %s", got.MergedInto, third.ID)
	}
	mention(t, store, testenv.UniqueName("cmd-"), first.Name)
	if got, _ := store.TechByID(ctx, third.ID); got.Mentions != 4 {
		t.Fatalf("the last target after a mention of the first alias = %+v", got)
	}
}

func TestRerank(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		store := newStoreUnderTest(t, db)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			low, high := testenv.UniqueName("Rare "), testenv.UniqueName("Common ")
			mentionTimes(t, store, low, 1)
			mentionTimes(t, store, high, 4)
			if got, reranked, err := store.StoredPolicy(ctx); err != nil || got.Medium != 0 || reranked {
				t.Fatalf("stored policy before the first start = %+v %v, %v", got, reranked, err)
			}

			// Several workers start at once: one claims the re-ranking.
			strict := tech.ThresholdPolicy{Medium: 2, High: 4}
			now := time.Now()
			var (
				wg      sync.WaitGroup
				claimed atomic.Int32
			)
			for range 4 {
				wg.Go(func() {
					ok, err := store.ClaimRerank(ctx, strict, now, now.Add(time.Minute))
					if err != nil {
						t.Error(err)
					}
					if ok {
						claimed.Add(1)
					}
				})
			}
			wg.Wait()
			if claimed.Load() != 1 {
				t.Fatalf("%d workers claimed the re-ranking, want 1", claimed.Load())
			}
			// The claim's holder died: once it expires, the next start takes it over.
			rerank := command.NewRerankTechs(store, strict, func() time.Time { return now.Add(2 * time.Minute) }, slog.New(slog.DiscardHandler))
			if err := rerank.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if got := techNamed(t, store, high); got.Priority != tech.PriorityHigh {
				t.Fatalf("after re-ranking: %+v", got)
			}
			if got, reranked, err := store.StoredPolicy(ctx); err != nil || got != strict || !reranked {
				t.Fatalf("stored policy = %+v %v, %v", got, reranked, err)
			}
			var events int
			if err := store.db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE topic = 'events.TechsReranked'").Scan(&events); err != nil || events != 1 {
				t.Fatalf("%d TechsReranked events, %v", events, err)
			}
			// Started again with the same policy: nothing to do.
			if ok, err := store.ClaimRerank(ctx, strict, now, now.Add(time.Minute)); ok || err != nil {
				t.Fatalf("claim under the recorded policy = %v, %v", ok, err)
			}
			// Back to the default: low again, with a batch size smaller than the table.
			if ok, err := store.ClaimRerank(ctx, policy, now, now.Add(time.Minute)); !ok || err != nil {
				t.Fatalf("claim under another policy = %v, %v", ok, err)
			}
			var after string
			for range 1000 {
				next, _, err := store.RerankBatch(ctx, after, 1, policy)
				if err != nil {
					t.Fatal(err)
				}
				if next == "" {
					break
				}
				after = next
			}
			if got := techNamed(t, store, high); got.Priority != tech.PriorityMedium {
				t.Fatalf("after re-ranking back: %+v", got)
			}
			if got := techNamed(t, store, low); got.Priority != tech.PriorityLow {
				t.Fatalf("after re-ranking back: %+v", got)
			}
			// A process started with other thresholds claims meanwhile: the
			// one re-ranking to the old ones stops, changing nothing.
			lax := tech.ThresholdPolicy{Medium: 1, High: 2}
			if ok, err := store.ClaimRerank(ctx, lax, now, now.Add(time.Minute)); !ok || err != nil {
				t.Fatalf("claim under a third policy = %v, %v", ok, err)
			}
			if _, _, err := store.RerankBatch(ctx, "", 1000, policy); !errors.Is(err, command.ErrRerankSuperseded) {
				t.Fatalf("batch under the replaced policy = %v, want ErrRerankSuperseded", err)
			}
			if got := techNamed(t, store, low); got.Priority != tech.PriorityLow {
				t.Fatalf("a superseded batch changed %+v", got)
			}
			if err := store.FinishRerank(ctx, policy, tech.TechsReranked{Changed: 1}); err != nil {
				t.Fatal(err)
			}
			if got, reranked, err := store.StoredPolicy(ctx); err != nil || got != lax || reranked {
				t.Fatalf("stored policy after a superseded finish = %+v %v, %v", got, reranked, err)
			}
		})
	}
}
