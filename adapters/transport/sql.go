package transport

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/settings"
)

// SQLConfig tunes the SQL transport. The configuration embeds it under
// SQL_TRANSPORT_: the tags are the settings' flags, variables, defaults and
// help.
type SQLConfig struct {
	// PollInterval is how often the watcher looks for messages other
	// processes published while messages come; after ten seconds without
	// any, it looks less often, down to every max(10 intervals, 1 s).
	PollInterval time.Duration `name:"poll-interval" env:"POLL_INTERVAL" default:"100ms" help:"How often a process looks, with one query for every partition it reads, for messages other processes published (TRANSPORT=sql); after ten seconds without any, less often, down to every ten intervals or every second, whichever is longer."`
	// BatchSize is how many messages one query reads and hands over at once,
	// within one transaction. A crash redelivers what the batch had handled
	// so far.
	BatchSize int `name:"batch-size" env:"BATCH_SIZE" default:"100" help:"Messages read per transaction and handled at once (TRANSPORT=sql); a crash redelivers what the batch had handled."`
	// AckDeadline is how long the handlers have to ack every message of a
	// batch before the batch is cut short: every message from the first one
	// not acked on is delivered again.
	AckDeadline time.Duration `name:"ack-deadline" env:"ACK_DEADLINE" default:"30s" help:"How long the handlers have to acknowledge the messages of one batch before every message from the first one not acknowledged on is delivered again (TRANSPORT=sql)."`
	// Partitions is how many tables a topic is spread over, each with its own
	// offsets: a partition's batches are read by one worker of a group at a
	// time, so this is how many workers of a group read a topic at once. Each
	// partition costs polls of its own, and fewer, fuller batches cost less
	// per message. Lowering it is safe: subscribers read the partitions
	// beyond it that a larger setting left, for as long as they exist.
	Partitions int `name:"partitions" env:"PARTITIONS" default:"2" help:"Tables each topic is spread over (TRANSPORT=sql): how many workers of a group read a topic at once. Subscribers also read the tables beyond it that a larger setting left, for as long as they exist; a worker reads the tables that exist when it subscribes, so raise it on the workers first."`
	// NackResendSleep is the pause before a nacked message is handed to the
	// handler again.
	NackResendSleep time.Duration `name:"nack-resend-sleep" env:"NACK_RESEND_SLEEP" default:"1s" help:"Pause before a nacked message is handled again (TRANSPORT=sql)."`
}

// Check reports every setting out of range, naming its variable.
func (c SQLConfig) Check() error {
	var p settings.Problems
	if c.Partitions < 1 || c.Partitions > sqlMaxPartitions {
		p.Add("SQL_TRANSPORT_PARTITIONS", "must be between 1 and %d, got %d", sqlMaxPartitions, c.Partitions)
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		p.Add("SQL_TRANSPORT_BATCH_SIZE", "must be between 1 and 10000, got %d", c.BatchSize)
	}
	p.Positive("SQL_TRANSPORT_POLL_INTERVAL", c.PollInterval)
	p.Positive("SQL_TRANSPORT_ACK_DEADLINE", c.AckDeadline)
	p.Positive("SQL_TRANSPORT_NACK_RESEND_SLEEP", c.NackResendSleep)
	return p.Err()
}

const (
	// sqlTransportPayloadType stores payloads as bytes: the default JSON column
	// would refuse a payload that is not JSON, such as a foreign message the
	// poison middleware forwards.
	sqlTransportPayloadType = "LONGBLOB"

	// sqlTransportGatesTable holds one row per topic, locked shared by every
	// publish and briefly exclusively before every read; see highWaterMark.
	sqlTransportGatesTable = "`watermill_publish_gates`"
	// sqlTransportBarrierConns sizes the pool that takes those exclusive
	// locks. It is a pool of its own because a subscriber asks for it while its
	// read transaction holds a connection of the main pool: sharing one pool,
	// subscribers could hold every connection and wait for one more forever.
	sqlTransportBarrierConns = 4
	// sqlTransportBarrierTimeout bounds the wait for the publishes in flight.
	sqlTransportBarrierTimeout = 10 * time.Second

	mysqlMaxIdentifierLength = 64
)

// SQL carries messages in MySQL tables, on watermill-sql: one table
// of messages per topic, appended to by publishers, and one table of offsets
// per topic, one row per consumer group.
//
// A topic is spread over Partitions tables: the first is named after the
// topic, the others after the topic and ".p1", ".p2"... A publish goes to the
// one this process publishes the topic to at that moment (partitionOf).
//
// Delivery is at least once, in no particular order. A subscriber reads a
// batch of a partition, hands all of it to the handlers at once (see
// sqlHandover) and advances its group's offset past the messages acked
// without a gap, all in one transaction that holds the group's offset row of
// that partition locked: a crashed subscriber's transaction rolls back and the
// batch is read again, by any subscriber of the group, as soon as MySQL
// notices the connection is gone. The same lock makes the subscribers of a
// group take turns on a partition: a group handles one batch per partition at
// a time, whatever the number of workers. A new group starts at the first
// message. Tables are created on first use of a topic; Clean deletes the
// messages every group of the topic has acknowledged.
//
// watermill-sql alone loses messages on MySQL when publishers run
// concurrently: an insert takes its auto-increment offset before its row is
// visible, so a subscriber can read and acknowledge a later offset first and
// then never look back. The transport closes that gap with a high-water mark:
// see highWaterMark.
type SQL struct {
	db          *sql.DB
	subscribeDB *sql.DB
	barrierDB   *sql.DB
	config      SQLConfig
	logger      watermill.LoggerAdapter
	schema      sqlTransportSchema
	offsets     sqlTransportOffsets
	publisher   *sqlTransportPublisher
	// now and firstSlot place publishes (partitionOf); tests set now.
	now       func() time.Time
	firstSlot uint64

	initializedTopics sync.Map // topic → struct{}, once its tables exist
	wakeups           sqlWakeups
	watcher           *sqlWatcher
	polls             atomic.Uint64 // queries of the partitions, for tests
}

var _ Transport = (*SQL)(nil)

// NewSQL opens pools of its own on dsn, so that subscribers, which
// hold a connection for a whole batch, never starve the store of connections.
func NewSQL(dsn string, pool mysqldb.PoolConfig, config SQLConfig, logger watermill.LoggerAdapter) (*SQL, error) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if err := config.Check(); err != nil {
		return nil, fmt.Errorf("sql transport: %w", err)
	}
	db, err := mysqldb.Open(dsn, pool)
	if err != nil {
		return nil, fmt.Errorf("sql transport: %w", err)
	}
	barrierDB, err := mysqldb.Open(dsn, mysqldb.PoolConfig{MaxOpenConns: sqlTransportBarrierConns, MaxIdleConns: sqlTransportBarrierConns, ConnMaxLifetime: pool.ConnMaxLifetime})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sql transport: %w", err)
	}
	// Every subscription of every partition holds a connection while it
	// reads and hands over a batch: they get a pool of their own, without a
	// bound, so that they can never take the connections publishes need.
	subscribeDB, err := mysqldb.Open(dsn, mysqldb.PoolConfig{MaxIdleConns: pool.MaxIdleConns, ConnMaxLifetime: pool.ConnMaxLifetime})
	if err != nil {
		_ = db.Close()
		_ = barrierDB.Close()
		return nil, fmt.Errorf("sql transport: %w", err)
	}
	t := &SQL{db: db, subscribeDB: subscribeDB, barrierDB: barrierDB, config: config, logger: logger,
		now: time.Now, firstSlot: rand.Uint64()} // #nosec G404 -- a spread of publishes, not a secret
	t.schema = sqlTransportSchema{
		DefaultMySQLSchema: watermillsql.DefaultMySQLSchema{
			GenerateMessagesTableName: func(topic string) string { return quoteSQLName(sqlTransportTable("watermill_", topic)) },
			GeneratePayloadType:       func(string) string { return sqlTransportPayloadType },
			SubscribeBatchSize:        config.BatchSize,
		},
		logger: logger,
	}
	t.schema.highWaterMark = t.highWaterMark
	t.offsets = sqlTransportOffsets{watermillsql.DefaultMySQLOffsetsAdapter{
		GenerateMessagesOffsetsTableName: func(topic string) string {
			return quoteSQLName(sqlTransportTable("watermill_offsets_", topic))
		},
	}}
	t.publisher = &sqlTransportPublisher{transport: t}
	t.watcher = newSQLWatcher(t, config.PollInterval)
	return t, nil
}

func (t *SQL) Publisher() message.Publisher { return t.publisher }

// partitionTopics are the topics the partitions of topic are stored as.
func (t *SQL) partitionTopics(topic string) []string {
	topics := make([]string, t.config.Partitions)
	for i := range topics {
		topics[i] = t.partitionTopic(topic, i)
	}
	return topics
}

// sqlMaxPartitions bounds SQL_TRANSPORT_PARTITIONS, and the partitions a
// subscriber looks for beyond it.
const sqlMaxPartitions = 256

// readPartitions are the partitions a subscriber of topic reads: those
// publishes go to, and any beyond them that a process with more partitions
// created before the subscription began, so that lowering
// SQL_TRANSPORT_PARTITIONS strands nothing. The partitions no longer
// published to are read for as long as their tables exist: once every group
// has read them, each costs a place in the watcher's query and a safety
// poll now and then, until an operator drops its two tables.
func (t *SQL) readPartitions(ctx context.Context, topic string) ([]string, error) {
	partitions := t.partitionTopics(topic)
	byTable := map[string]string{}
	var tables []any
	for i := t.config.Partitions; i < sqlMaxPartitions; i++ {
		partition := t.partitionTopic(topic, i)
		table := sqlTransportTable("watermill_", partition)
		byTable[strings.ToLower(table)] = partition
		tables = append(tables, table)
	}
	if len(tables) == 0 {
		return partitions, nil
	}
	// #nosec G202 -- only placeholders are joined; the names go as arguments
	rows, err := t.db.QueryContext(ctx,
		"SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN (?"+strings.Repeat(", ?", len(tables)-1)+") ORDER BY table_name",
		tables...)
	if err != nil {
		return nil, fmt.Errorf("sql transport: looking for partitions of topic %s beyond %d: %w", topic, t.config.Partitions, err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			return nil, err
		}
		// A server with lower_case_table_names names tables in lower case.
		if partition, ok := byTable[strings.ToLower(table)]; ok {
			partitions = append(partitions, partition)
		}
	}
	return partitions, rows.Err()
}

func (t *SQL) partitionTopic(topic string, partition int) string {
	if partition == 0 {
		// The first partition is the topic itself, so that a transport with
		// one partition stores topics as plain watermill-sql does.
		return topic
	}
	return topic + ".p" + strconv.Itoa(partition)
}

// sqlPublishSlot is how long a process publishes a topic's messages to one
// partition before it moves to the next. Spread message by message, every
// partition took a share of a light load and was polled for it: at 500
// commands a second on one worker, two partitions were twice the polls of
// one, each with half the messages, and a message waited behind the batch in
// flight in its partition either way. A slot fills one partition's batches
// while the others drain; it is long beside a poll (a few milliseconds) and
// short beside what a backlog takes to build, so that under load every
// partition has messages and the workers of a group share them.
const sqlPublishSlot = 100 * time.Millisecond

// partitionOf is the partition of topic this process publishes to now: the
// partitions in turn, a slot each, offset by a number drawn when the
// transport was made, so that two processes are as likely to publish to
// different partitions at a time as to the same one.
func (t *SQL) partitionOf(topic string) string {
	if t.config.Partitions == 1 {
		return topic
	}
	slot := uint64(t.now().UnixNano()/int64(sqlPublishSlot)) + t.firstSlot // #nosec G115 -- a time after 1970 is positive
	return t.partitionTopic(topic, int(slot%uint64(t.config.Partitions)))  // #nosec G115 -- SQL_TRANSPORT_PARTITIONS is checked to be 1 to 256
}

func (t *SQL) Ping(ctx context.Context) error {
	if err := t.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sql transport: ping MySQL: %w", err)
	}
	return nil
}

// Close stops the watcher, waits for the publishes in flight, then closes the
// pools.
func (t *SQL) Close() error {
	t.watcher.close()
	t.publisher.close()
	var errs []error
	if err := t.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the sql transport's pool: %w", err))
	}
	if err := t.subscribeDB.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the sql transport's subscriber pool: %w", err))
	}
	if err := t.barrierDB.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the sql transport's barrier pool: %w", err))
	}
	return errors.Join(errs...)
}

// sqlTopicCharacters are the ones watermill-sql allows in a topic; the name
// goes into table names and so into queries.
var sqlTopicCharacters = regexp.MustCompile(`^[A-Za-z0-9\-$:._]+$`)

func (t *SQL) checkTopic(topic string) error {
	if !sqlTopicCharacters.MatchString(topic) {
		return fmt.Errorf("sql transport: topic %q may only have ASCII letters, digits and -$:._", topic)
	}
	return nil
}

// initializeTopic creates the topic's tables and its gate row, once per topic
// and process, always outside any transaction of the caller: CREATE TABLE
// would commit it.
func (t *SQL) initializeTopic(ctx context.Context, topic string) error {
	if _, done := t.initializedTopics.Load(topic); done {
		return nil
	}
	if err := t.checkTopic(topic); err != nil {
		return err
	}
	queries := append(t.schema.SchemaInitializingQueries(topic), t.offsets.SchemaInitializingQueries(topic)...)
	queries = append(queries,
		watermillsql.Query{Query: "CREATE TABLE IF NOT EXISTS " + sqlTransportGatesTable + " (`messages_table` VARCHAR(64) NOT NULL PRIMARY KEY)"},
		watermillsql.Query{Query: "INSERT IGNORE INTO " + sqlTransportGatesTable + " (`messages_table`) VALUES (?)", Args: []any{sqlTransportTable("watermill_", topic)}},
	)
	for _, q := range queries {
		if _, err := t.db.ExecContext(ctx, q.Query, q.Args...); err != nil {
			return fmt.Errorf("sql transport: creating the tables of topic %s: %w", topic, err)
		}
	}
	t.initializedTopics.Store(topic, struct{}{})
	return nil
}

// sqlTransportTable names a topic's table as the library does, prefix and
// topic, but keeps it within MySQL's 64 characters: a longer name keeps its
// start and ends with a hash of the whole topic, so that it stays unique.
// Topics have been checked against sqlTopicCharacters before it is asked.
func sqlTransportTable(prefix, topic string) string {
	name := prefix + topic
	if len(name) > mysqlMaxIdentifierLength {
		sum := sha256.Sum256([]byte(topic))
		suffix := "_" + hex.EncodeToString(sum[:8])
		name = name[:mysqlMaxIdentifierLength-len(suffix)] + suffix
	}
	return name
}

func quoteSQLName(name string) string { return "`" + name + "`" }
