package sqlstore_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/correlation"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// The store contract suites run against SQLite and MySQL alike. This file
// holds what they share: the stores, and a publisher that records what the
// outbox relay gives it.

func newStores(t testing.TB) map[string]techStore {
	t.Helper()
	stores := map[string]techStore{}
	for name, store := range openSQLStores(t) {
		stores[name] = newStoreUnderTest(t, store)
	}
	return stores
}

// encodeCommand encodes commands as the service's command bus does, on
// topics of their own, with the correlation id of ctx.
func encodeCommand(ctx context.Context, cmd any) (string, *message.Message, error) {
	marshaler := cqrs.JSONMarshaler{GenerateName: cqrs.StructName}
	msg, err := marshaler.Marshal(cmd)
	if err != nil {
		return "", nil, err
	}
	msg.Metadata.Set("correlation_id", correlation.ID(ctx))
	return "commands." + marshaler.Name(cmd), msg, nil
}

func eventBusFactory(publisher message.Publisher) (command.EventPublisher, error) {
	return cqrs.NewEventBusWithConfig(publisher, cqrs.EventBusConfig{
		GeneratePublishTopic: func(p cqrs.GenerateEventPublishTopicParams) (string, error) { return "events." + p.EventName, nil },
		Marshaler:            cqrs.JSONMarshaler{GenerateName: cqrs.StructName},
	})
}

// storeUnderTest is every part of the SQL store on one database, built as the
// service builds them.
type storeUnderTest struct {
	*sqlstore.CommandLog
	*sqlstore.TechRepository
	*sqlstore.SMSRepository
	*sqlstore.PoisonQueue
	db     *sqlstore.DB
	outbox *sqlstore.Outbox
}

func newStoreUnderTest(t testing.TB, db *sqlstore.DB, outboxOptions ...sqlstore.OutboxOption) storeUnderTest {
	t.Helper()
	s := storeUnderTest{db: db}
	var err error
	if s.CommandLog, err = sqlstore.NewCommandLog(db, sqlstore.WithCommandEncoder(encodeCommand)); err != nil {
		t.Fatal(err)
	}
	if s.outbox, err = sqlstore.NewOutbox(s.db, eventBusFactory, outboxOptions...); err != nil {
		t.Fatal(err)
	}
	if s.TechRepository, err = sqlstore.NewTechRepository(db, s.CommandLog, s.outbox); err != nil {
		t.Fatal(err)
	}
	if s.SMSRepository, err = sqlstore.NewSMSRepository(db, s.CommandLog, s.outbox); err != nil {
		t.Fatal(err)
	}
	if s.PoisonQueue, err = sqlstore.NewPoisonQueue(db); err != nil {
		t.Fatal(err)
	}
	return s
}

// RelayOutbox runs the outbox relay of the store until ctx is done. Unless
// config says otherwise, it rescues events only after a minute: the events
// committed before it starts are published from memory however slow the
// machine is, and only a test of the rescue sees it.
func (s storeUnderTest) RelayOutbox(ctx context.Context, publisher message.Publisher, config sqlstore.OutboxRelayConfig, logger *slog.Logger) error {
	if config.RescueAfter == 0 {
		config.RescueAfter = time.Minute
	}
	relay, err := sqlstore.NewOutboxRelay(s.db, s.outbox, publisher, config, logger)
	if err != nil {
		return err
	}
	return relay.Run(ctx)
}

// CommandResender is a resender of the store's pending commands.
func (s storeUnderTest) CommandResender(publisher message.Publisher, config sqlstore.CommandResenderConfig) (*sqlstore.CommandResender, error) {
	return sqlstore.NewCommandResender(s.db, publisher, config, slog.New(slog.DiscardHandler))
}

// openSQLStores opens every store the suites run against, each empty: SQLite
// in a file of the test's own, MySQL in a database of the test's own.
func openSQLStores(t testing.TB) map[string]*sqlstore.DB {
	t.Helper()
	sqlite, err := sqlstore.OpenSQLite(context.Background(), sqlstore.SQLiteConfig{Path: filepath.Join(t.TempDir(), "techradar.db")})
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
	return map[string]*sqlstore.DB{"sqlite": sqlite, "mysql": mysql}
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
