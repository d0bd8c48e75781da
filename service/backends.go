package service

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/ports/messaging"
)

// backends are the adapters of one process, as the configuration names them,
// and what the flows build on them.
type backends struct {
	topics   messaging.Topics
	wmLogger watermill.LoggerAdapter
	bus      command.CommandBus
	cache    cache.ReadModelCache
	db       *sqlstore.DB
	commands *sqlstore.CommandLog
	poison   *sqlstore.PoisonQueue
	outbox   *sqlstore.Outbox
	techs    techFlow
	sms      smsFlow
	// submitOptions tell the submissions how the transport delivers.
	submitOptions []command.SubmitOption
}

// buildBackends opens the store, the transport and the cache, and builds each
// flow on them. What it opens is closed by s.closeAll.
func (s *Service) buildBackends(ctx context.Context) (backends, error) {
	b := backends{
		topics:   messaging.Topics{Prefix: s.cfg.TopicPrefix},
		wmLogger: messaging.NewLogger(s.logger.With(slog.String("component", "watermill"))),
	}
	var err error
	// A fresh server has no database yet: create it if the account may (the
	// MySQL store does so as it opens).
	if s.cfg.Store != config.StoreMySQL && s.cfg.Transport == config.TransportSQL {
		if err = mysqldb.EnsureDatabase(ctx, s.cfg.MySQL.DSN); err != nil {
			return b, err
		}
	}
	if b.db, err = openStore(ctx, s.cfg, &s.closers); err != nil {
		return b, err
	}
	if s.transport, err = NewTransport(s.cfg, b.wmLogger); err != nil {
		return b, err
	}
	s.closers = append(s.closers, s.closeTransport)
	// The command log keeps each command as the bus sends it, for a resend.
	commandLogOptions := []sqlstore.CommandLogOption{sqlstore.WithCommandEncoder(messaging.NewCommandEncoder(b.topics, b.wmLogger))}
	if deliversBeforeSendReturns(s.transport) {
		// Every submission asks what became of its command right after the
		// send: the log tells those its own transactions processed without
		// a read.
		commandLogOptions = append(commandLogOptions, sqlstore.WithSettledOutcomes())
	}
	if publish := publishInTransaction(s.cfg, s.transport); publish != nil {
		// The API records and sends each command in one commit.
		commandLogOptions = append(commandLogOptions, sqlstore.WithSendInTransaction(publish))
	}
	if b.commands, err = sqlstore.NewCommandLog(b.db, commandLogOptions...); err != nil {
		return b, err
	}
	if b.poison, err = sqlstore.NewPoisonQueue(b.db); err != nil {
		return b, err
	}
	if b.cache, err = openCache(s.cfg, s.logger, &s.closers); err != nil {
		return b, err
	}
	if s.commandPublisher, err = newCommandPublisher(s.cfg, s.transport); err != nil {
		return b, err
	}
	if b.bus, err = messaging.NewCommandBus(s.commandsPublisher(), b.topics, b.wmLogger); err != nil {
		return b, err
	}

	// Every flow writes its events through the same outbox and bus configuration.
	if b.outbox, err = sqlstore.NewOutbox(b.db, messaging.NewEventBusFactory(b.topics, b.wmLogger), outboxOptions(s.cfg, s.transport)...); err != nil {
		return b, err
	}
	if b.techs, err = newTechFlow(b.db, b.commands, b.outbox, s.cfg.Priority); err != nil {
		return b, err
	}
	if b.sms, err = newSMSFlow(b.db, b.commands, b.outbox, s.cfg.SMS); err != nil {
		return b, err
	}
	b.submitOptions = submitOptionsFor(s.transport, b)
	return b, nil
}

// openStore opens the store cfg names; opened gets what to close.
func openStore(ctx context.Context, cfg config.Config, opened *closers) (*sqlstore.DB, error) {
	switch cfg.Store {
	case config.StoreSQLite:
		store, err := sqlstore.OpenSQLite(ctx, cfg.SQLite)
		if err != nil {
			return nil, err
		}
		*opened = append(*opened, store.Close)
		return store, nil
	case config.StoreMySQL:
		// A fresh server has no database yet: create it if the account may.
		if err := mysqldb.EnsureDatabase(ctx, cfg.MySQL.DSN); err != nil {
			return nil, err
		}
		db, err := mysqldb.Open(cfg.MySQL.DSN, cfg.MySQL.Pool())
		if err != nil {
			return nil, err
		}
		*opened = append(*opened, db.Close)
		return sqlstore.NewMySQL(ctx, db)
	default:
		return nil, fmt.Errorf("STORE: unknown store %q", cfg.Store)
	}
}

// openCache opens the cache cfg names, behind a circuit breaker when it is
// Redis; opened gets what to close.
func openCache(cfg config.Config, logger *slog.Logger, opened *closers) (cache.ReadModelCache, error) {
	switch cfg.Cache {
	case config.CacheMemory:
		return cache.NewMemory(0), nil
	case config.CacheRedis:
		// No retries of a failed command: a read that Redis does not answer in
		// time goes to the store at once, and the breaker opens on it.
		options := redisOptions(cfg.Redis)
		options.MaxRetries = -1
		client := redis.NewClient(options)
		*opened = append(*opened, client.Close)
		redisCache, err := cache.NewRedis(client, cfg.RedisCache)
		if err != nil {
			return nil, err
		}
		// Closed in reverse: the subscription ends before its client.
		*opened = append(*opened, redisCache.Close)
		return cache.NewBreaker(redisCache, cfg.RedisCache.BreakerCoolDown, logger)
	default:
		return nil, fmt.Errorf("CACHE: %q is not available in this build", cfg.Cache)
	}
}

// inTransactionPublisher is a transport that keeps its messages in a MySQL
// database and can publish them in a transaction of another pool on it.
type inTransactionPublisher interface {
	StatementsToPublish(ctx context.Context, publishes []transport.TopicMessages) ([]watermillsql.Query, func(), error)
}

// publishInTransaction is how the store publishes in its own transactions
// where the transport's messages live in the store's database, the MySQL
// store and the SQL transport on one DSN; nil elsewhere, and on a transport
// that delivers before a send returns, whose submissions send before they
// record. A command is then recorded and sent in one commit, and an event is
// in the transport if, and only if, its change committed, with no relay
// between them. Measured (docs/BENCHMARKS.md, What changed): end to end with 50 hot names,
// 3,024–3,787 commands a second at 413–526 µs of CPU each, against
// 2,208–2,907 at 591–733 µs.
func publishInTransaction(cfg config.Config, t transport.Transport) sqlstore.PublishInTransaction {
	publisher, ok := t.(inTransactionPublisher)
	if !ok || cfg.Store != config.StoreMySQL || cfg.Transport != config.TransportSQL || deliversBeforeSendReturns(t) {
		return nil
	}
	return func(ctx context.Context, publishes []sqlstore.TopicMessages) ([]sqlstore.Statement, func(), error) {
		converted := make([]transport.TopicMessages, len(publishes))
		for i, p := range publishes {
			converted[i] = transport.TopicMessages(p)
		}
		queries, published, err := publisher.StatementsToPublish(ctx, converted)
		if err != nil {
			return nil, nil, err
		}
		statements := make([]sqlstore.Statement, len(queries))
		for i, q := range queries {
			statements[i] = sqlstore.Statement(q)
		}
		return statements, published, nil
	}
}

// outboxOptions have the outbox publish events in the store's own
// transactions where it can (publishInTransaction).
func outboxOptions(cfg config.Config, t transport.Transport) []sqlstore.OutboxOption {
	if publish := publishInTransaction(cfg, t); publish != nil {
		return []sqlstore.OutboxOption{sqlstore.WithPublishInTransaction(publish)}
	}
	return nil
}
