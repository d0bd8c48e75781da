package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/testenv"
)

// techStore is what every store implements; the suite below runs against each.
type techStore interface {
	command.TechRepository
	command.CommandLog
	query.TechReadModel
	query.CommandReadModel
	RelayOutbox(ctx context.Context, publisher message.Publisher, config sqlstore.OutboxRelayConfig, logger *slog.Logger) error
	CommandResender(publisher message.Publisher, config sqlstore.CommandResenderConfig) (*sqlstore.CommandResender, error)
}

func TestTechStore(t *testing.T) {
	t.Parallel()

	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("first mention creates the tech", func(t *testing.T) { t.Parallel(); testFirstMention(t, store) })
			t.Run("later mentions count", func(t *testing.T) { t.Parallel(); testLaterMentions(t, store) })
			t.Run("a command is applied once", func(t *testing.T) { t.Parallel(); testCommandAppliedOnce(t, store) })
			t.Run("a failed mention changes nothing", func(t *testing.T) { t.Parallel(); testFailedMentionRollsBack(t, store) })
			t.Run("concurrent mentions all count", func(t *testing.T) { t.Parallel(); testConcurrentMentions(t, store) })
			t.Run("a failing mention fails alone", func(t *testing.T) { t.Parallel(); testFailingMentionFailsAlone(t, store) })
			t.Run("unknown tech", func(t *testing.T) { t.Parallel(); testUnknownTech(t, store) })
		})
	}
}

// The list test needs a store of its own: it sees every tech.
func TestTechStoreList(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) { t.Parallel(); testListOrderAndPages(t, store) })
	}
}

var policy = tech.DefaultThresholdPolicy

// mention applies one mention of rawName under commandID the way the command handler does.
func mention(t *testing.T, store techStore, commandID, rawName string) bool {
	t.Helper()
	applied, err := mentionErr(context.Background(), store, commandID, rawName)
	if err != nil {
		t.Fatalf("MentionTech(%s, %s): %v", commandID, rawName, err)
	}
	return applied
}

func mentionErr(ctx context.Context, store techStore, commandID, rawName string) (bool, error) {
	name, err := tech.ParseName(rawName)
	if err != nil {
		return false, err
	}
	return store.MentionTech(ctx, commandID, name.Key(), mentionOf(name, commandID))
}

// mentionOf is what CreateTech's handler does to the tech named name.
func mentionOf(name tech.Name, commandID string) command.MentionFunc {
	return func(ctx context.Context, current *tech.Tech, events command.EventPublisher) (tech.Tech, error) {
		if current == nil {
			created := tech.New(name, policy, time.Now())
			return created, events.Publish(ctx, created.Created(commandID))
		}
		next := *current
		next.Mention(policy, time.Now())
		return next, events.Publish(ctx, next.Mentioned(commandID))
	}
}

func techNamed(t *testing.T, store techStore, rawName string) query.Tech {
	t.Helper()
	name, err := tech.ParseName(rawName)
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.TechByID(context.Background(), tech.IDFor(name))
	if err != nil {
		t.Fatalf("TechByID(%s): %v", rawName, err)
	}
	return got
}

func testFirstMention(t *testing.T, store techStore) {
	name := testenv.UniqueName("First ")
	before := time.Now().Add(-time.Second)
	if !mention(t, store, testenv.UniqueName("cmd-"), name) {
		t.Fatal("first mention not applied")
	}
	got := techNamed(t, store, name)
	if got.Name != name || got.Mentions != 1 || got.Priority != tech.PriorityLow {
		t.Fatalf("tech = %+v", got)
	}
	if got.CreatedAt.Before(before) || !got.CreatedAt.Equal(got.UpdatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("times = %v, %v", got.CreatedAt, got.UpdatedAt)
	}
}

func testLaterMentions(t *testing.T, store techStore) {
	name := testenv.UniqueName("Later ")
	mention(t, store, testenv.UniqueName("cmd-"), name)
	for i := 2; i <= 10; i++ {
		// Other spellings are the same tech; the first spelling is kept.
		if !mention(t, store, testenv.UniqueName("cmd-"), "  "+strings.ToUpper(name)+" ") {
			t.Fatalf("mention %d not applied", i)
		}
		got := techNamed(t, store, name)
		if got.Mentions != i || got.Name != name || got.Priority != policy.Priority(i) {
			t.Fatalf("after %d mentions: %+v", i, got)
		}
	}
}

func testCommandAppliedOnce(t *testing.T, store techStore) {
	name, id := testenv.UniqueName("Once "), testenv.UniqueName("cmd-")
	if !mention(t, store, id, name) {
		t.Fatal("not applied")
	}
	for range 3 {
		if mention(t, store, id, name) {
			t.Fatal("a redelivered command was applied again")
		}
	}
	if got := techNamed(t, store, name); got.Mentions != 1 {
		t.Fatalf("mentions = %d, want 1", got.Mentions)
	}
	report, err := store.CommandReport(context.Background(), id)
	if err != nil || report.Status != string(command.StatusProcessed) || report.TechID != techNamed(t, store, name).ID {
		t.Fatalf("report = %+v, %v", report, err)
	}
}

func testFailedMentionRollsBack(t *testing.T, store techStore) {
	ctx := context.Background()
	name, id := testenv.UniqueName("Rollback "), testenv.UniqueName("cmd-")
	parsed, _ := tech.ParseName(name)
	boom := errors.New("boom")
	_, err := store.MentionTech(ctx, id, parsed.Key(), func(ctx context.Context, _ *tech.Tech, events command.EventPublisher) (tech.Tech, error) {
		created := tech.New(parsed, policy, time.Now())
		if err := events.Publish(ctx, created.Created(id)); err != nil {
			return tech.Tech{}, err
		}
		return created, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if _, err := store.TechByID(ctx, tech.IDFor(parsed)); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("the tech of a failed mention exists: %v", err)
	}
	// The command is still to be applied: a retry must go through.
	if !mention(t, store, id, name) {
		t.Fatal("retry after a failure was not applied")
	}
}

func testConcurrentMentions(t *testing.T, store techStore) {
	const workers, perWorker = 16, 8
	name := testenv.UniqueName("Concurrent ")
	duplicated := testenv.UniqueName("cmd-dup-")

	var wg sync.WaitGroup
	errs := make(chan error, workers*(perWorker+1))
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if _, err := mentionErr(context.Background(), store, fmt.Sprintf("%s-%d-%d", duplicated, w, i)+"-own", name); err != nil {
					errs <- err
				}
			}
			// Every worker also delivers the same command: it must count once.
			if _, err := mentionErr(context.Background(), store, duplicated, name); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := techNamed(t, store, name); got.Mentions != workers*perWorker+1 {
		t.Fatalf("mentions = %d, want %d", got.Mentions, workers*perWorker+1)
	}
}

// testFailingMentionFailsAlone sends mentions together, so that they share
// transactions, one of them failing: the others are applied all the same.
func testFailingMentionFailsAlone(t *testing.T, store techStore) {
	const n = 24
	name := testenv.UniqueName("Together ")
	parsed, _ := tech.ParseName(name)
	boom := errors.New("boom")
	failing := n / 2

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("%s-%d", name, i)
			if i != failing {
				_, errs[i] = mentionErr(context.Background(), store, id, name)
				return
			}
			_, errs[i] = store.MentionTech(context.Background(), id, parsed.Key(),
				func(context.Context, *tech.Tech, command.EventPublisher) (tech.Tech, error) { return tech.Tech{}, boom })
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == failing && !errors.Is(err, boom) {
			t.Fatalf("the failing mention returned %v", err)
		}
		if i != failing && err != nil {
			t.Fatalf("mention %d: %v", i, err)
		}
	}
	if got := techNamed(t, store, name); got.Mentions != n-1 {
		t.Fatalf("mentions = %d, want %d", got.Mentions, n-1)
	}
}

func testUnknownTech(t *testing.T, store techStore) {
	_, err := store.TechByID(context.Background(), "no-such-id")
	if apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("err = %v, want not found", err)
	}
}

func testListOrderAndPages(t *testing.T, store techStore) {
	ctx := context.Background()
	if techs, err := store.ListTechs(ctx, 10, nil); err != nil || len(techs) != 0 {
		t.Fatalf("empty store lists %v, %v", techs, err)
	}

	// name -> mentions; the order is priority, then mentions, then name key.
	mentions := map[string]int{"Zig": 12, "Go": 10, "Rust": 10, "kafka": 3, "Elixir": 9, "Apache Flink": 3, "C": 1, "b": 1, "A": 1}
	want := []string{"Zig", "Go", "Rust", "Elixir", "Apache Flink", "kafka", "A", "b", "C"}
	for name, n := range mentions {
		for range n {
			mention(t, store, testenv.UniqueName("cmd-"), name)
		}
	}

	all, err := store.ListTechs(ctx, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(all); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order = %v, want %v", got, want)
	}

	for _, pageSize := range []int{1, 2, 4, 9} {
		var (
			paged []string
			after *query.Cursor
		)
		for range 20 {
			page, err := store.ListTechs(ctx, pageSize, after)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, names(page)...)
			if len(page) < pageSize {
				break
			}
			c := query.CursorAfter(page[len(page)-1])
			after = &c
		}
		if fmt.Sprint(paged) != fmt.Sprint(want) {
			t.Fatalf("pages of %d = %v, want %v", pageSize, paged, want)
		}
	}
}

func names(techs []query.Tech) []string {
	out := make([]string, len(techs))
	for i, t := range techs {
		out[i] = t.Name
	}
	return out
}

// A write the database refuses fails the command that made it, not the
// others committed in the same batch.
func TestMySQLStoreRefusedMentionFailsAlone(t *testing.T) {
	t.Parallel()
	store := newStores(t)["mysql"]
	name := testenv.UniqueName("Neighbour ")
	parsed, _ := tech.ParseName(name)
	// Longer than the name_key column: MySQL refuses the row in strict mode.
	tooLong := strings.Repeat("x", 500)

	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("%s-%d", name, i)
			if i != n/2 {
				_, errs[i] = mentionErr(context.Background(), store, id, name)
				return
			}
			_, errs[i] = store.MentionTech(context.Background(), id, tooLong,
				func(_ context.Context, _ *tech.Tech, _ command.EventPublisher) (tech.Tech, error) {
					created := tech.New(parsed, policy, time.Now())
					created.ID, created.Key, created.Name = testenv.UniqueName("refused-"), tooLong, tooLong
					return created, nil
				})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 && err == nil {
			t.Fatal("the refused mention succeeded")
		}
		if i != n/2 && err != nil {
			t.Fatalf("mention %d: %v", i, err)
		}
	}
	if got := techNamed(t, store, name); got.Mentions != n-1 {
		t.Fatalf("mentions = %d, want %d", got.Mentions, n-1)
	}
}
