package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// techStore is what every store implements; the suite below runs against each.
type techStore interface {
	command.TechRepository
	command.CommandLog
	query.TechReadModel
	query.CommandReadModel
	RelayOutbox(ctx context.Context, publisher message.Publisher, config sqlstore.OutboxRelayConfig, logger *slog.Logger) error
}

func newStores(t testing.TB) map[string]techStore {
	t.Helper()
	stores := map[string]techStore{}
	for name, store := range openSQLStores(t) {
		stores[name] = withTechRepository(t, store)
	}
	return stores
}

func eventBusFactory(publisher message.Publisher) (command.EventPublisher, error) {
	return cqrs.NewEventBusWithConfig(publisher, cqrs.EventBusConfig{
		GeneratePublishTopic: func(p cqrs.GenerateEventPublishTopicParams) (string, error) { return "events." + p.EventName, nil },
		Marshaler:            cqrs.JSONMarshaler{GenerateName: cqrs.StructName},
	})
}

// storeUnderTest is a store with the tech repository on it.
type storeUnderTest struct {
	*sqlstore.Store
	*sqlstore.TechRepository
}

func withTechRepository(t testing.TB, store *sqlstore.Store) techStore {
	t.Helper()
	repo, err := sqlstore.NewTechRepository(store, eventBusFactory)
	if err != nil {
		t.Fatal(err)
	}
	return storeUnderTest{Store: store, TechRepository: repo}
}

// openSQLStores opens every store the suites run against, each empty: SQLite
// in a file of the test's own, MySQL in a database of the test's own.
func openSQLStores(t testing.TB) map[string]*sqlstore.Store {
	t.Helper()
	sqlite, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "techradar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sqlite.Close() })

	db, err := mysqldb.Open(testenv.MySQLDatabase(t), mysqldb.PoolConfig{MaxOpenConns: 32})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	mysql, err := sqlstore.NewMySQL(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*sqlstore.Store{"sqlite": sqlite, "mysql": mysql}
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
			t.Run("command log", func(t *testing.T) { t.Parallel(); testCommandLog(t, store) })
			t.Run("unknown tech", func(t *testing.T) { t.Parallel(); testUnknownTech(t, store) })
		})
	}
}

// The list and outbox tests need a store of their own: they see every tech and event.
func TestTechStoreList(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) { t.Parallel(); testListOrderAndPages(t, store) })
	}
}

func TestTechStoreOutbox(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) { t.Parallel(); testOutboxRelay(t, store) })
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

func testCommandLog(t *testing.T, store techStore) {
	ctx := context.Background()
	id := testenv.UniqueName("cmd-")

	if _, err := store.CommandReport(ctx, id); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("unknown command: %v", err)
	}
	status, created, err := store.Accept(ctx, id, time.Now())
	if err != nil || !created || status != command.StatusPending {
		t.Fatalf("Accept = %s, %v, %v", status, created, err)
	}
	status, created, err = store.Accept(ctx, id, time.Now())
	if err != nil || created || status != command.StatusPending {
		t.Fatalf("second Accept = %s, %v, %v", status, created, err)
	}
	if report, err := store.CommandReport(ctx, id); err != nil || report.Status != "pending" {
		t.Fatalf("report = %+v, %v", report, err)
	}

	if err := store.Forget(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CommandReport(ctx, id); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("forgotten command: %v", err)
	}

	if err := store.MarkFailed(ctx, id, "no such thing"); err != nil {
		t.Fatal(err)
	}
	report, err := store.CommandReport(ctx, id)
	if err != nil || report.Status != "failed" || report.Error != "no such thing" {
		t.Fatalf("failed report = %+v, %v", report, err)
	}
	if mention(t, store, id, testenv.UniqueName("Failed ")) {
		t.Fatal("a failed command was applied")
	}

	processed := testenv.UniqueName("cmd-")
	mention(t, store, processed, testenv.UniqueName("Processed "))
	if err := store.MarkFailed(ctx, processed, "too late"); err != nil {
		t.Fatal(err)
	}
	if report, _ := store.CommandReport(ctx, processed); report.Status != "processed" || report.Error != "" {
		t.Fatalf("a processed command was marked failed: %+v", report)
	}
	if err := store.Forget(ctx, processed); err != nil {
		t.Fatal(err)
	}
	if report, _ := store.CommandReport(ctx, processed); report.Status != "processed" {
		t.Fatalf("a processed command was forgotten: %+v", report)
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

func testOutboxRelay(t *testing.T, store techStore) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	publisher := &recordingPublisher{failures: 2}
	relayDone := make(chan error, 1)
	go func() {
		relayDone <- store.RelayOutbox(ctx, publisher, sqlstore.OutboxRelayConfig{BatchSize: 3, PollInterval: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
	}()

	const n = 10
	name := testenv.UniqueName("Outbox ")
	for i := range n {
		mention(t, store, fmt.Sprintf("outbox-cmd-%d", i), name)
	}

	deadline := time.Now().Add(10 * time.Second)
	for publisher.count() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// A relay round that published must not publish again.
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-relayDone; err != nil {
		t.Fatal(err)
	}

	got := publisher.messages()
	if len(got) != n {
		t.Fatalf("relayed %d events, want %d", len(got), n)
	}
	for i, m := range got {
		wantTopic := "events.TechMentioned"
		if i == 0 {
			wantTopic = "events.TechCreated"
		}
		if m.topic != wantTopic || m.msg.Metadata.Get("name") != wantTopic[len("events."):] {
			t.Fatalf("event %d: topic %s, metadata %v", i, m.topic, m.msg.Metadata)
		}
		if want := fmt.Sprintf(`"mentions":%d`, i+1); !strings.Contains(string(m.msg.Payload), want) {
			t.Fatalf("event %d out of order: %s", i, m.msg.Payload)
		}
	}
}

type published struct {
	topic string
	msg   *message.Message
}

// recordingPublisher fails its first calls, then records what it is given.
type recordingPublisher struct {
	mu       sync.Mutex
	failures int
	got      []published
}

func (p *recordingPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures > 0 {
		p.failures--
		return errors.New("transport down")
	}
	for _, m := range msgs {
		p.got = append(p.got, published{topic: topic, msg: m})
	}
	return nil
}

func (p *recordingPublisher) Close() error { return nil }

func (p *recordingPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

func (p *recordingPublisher) messages() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]published(nil), p.got...)
}

func names(techs []query.Tech) []string {
	out := make([]string, len(techs))
	for i, t := range techs {
		out[i] = t.Name
	}
	return out
}

func TestMySQLMigrationsRunConcurrently(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDatabase(t)

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := mysqldb.Open(dsn, mysqldb.PoolConfig{})
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			_, err = sqlstore.NewMySQL(context.Background(), db)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// Concurrent accepts are recorded together; each id is created once, however
// many submissions carry it.
func TestCommandLogConcurrentAccepts(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			shared := testenv.UniqueName("shared-")
			const n = 40
			var (
				wg      sync.WaitGroup
				created atomic.Int32
				errs    = make([]error, n)
			)
			for i := range n {
				wg.Go(func() {
					id := shared
					if i%2 == 1 {
						id = fmt.Sprintf("%s-own-%d", shared, i)
					}
					status, wasCreated, err := store.Accept(context.Background(), id, time.Now())
					if err == nil && status != command.StatusPending {
						err = fmt.Errorf("status %s, want pending", status)
					}
					if wasCreated && id == shared {
						created.Add(1)
					}
					if !wasCreated && id != shared {
						err = fmt.Errorf("%s was not created", id)
					}
					errs[i] = err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if got := created.Load(); got != 1 {
				t.Fatalf("the shared id was created %d times, want once", got)
			}
		})
	}
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
