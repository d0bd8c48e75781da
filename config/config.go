// Package config is techradar's one typed configuration. Every setting comes
// from an environment variable or its flag (the flag wins), has a default that
// runs the embedded mode, and is validated before anything starts. No other
// package reads the environment.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Transports, stores and caches that can be chosen.
const (
	TransportGoChannel   = "gochannel"
	TransportRedisStream = "redisstream"
	TransportKafka       = "kafka"
	TransportSQL         = "sql"

	StoreSQLite = "sqlite"
	StoreMySQL  = "mysql"

	CacheMemory = "memory"
	CacheRedis  = "redis"
)

// Config is every setting. The struct tags are read by the command line parser:
// env names the variable, default its value when unset, help what --help says.
type Config struct {
	Transport string `env:"TRANSPORT" default:"gochannel" help:"Message transport: gochannel (in-process), redisstream, kafka or sql (MySQL)."`
	Store     string `env:"STORE" default:"sqlite" help:"Store of techs and commands: sqlite (local file) or mysql."`
	Cache     string `env:"CACHE" default:"memory" help:"Read-model cache: memory (in-process) or redis."`

	HTTPAddr            string        `name:"http-addr" env:"HTTP_ADDR" default:":8080" help:"Address the HTTP server listens on."`
	HTTPShutdownTimeout time.Duration `name:"http-shutdown-timeout" env:"HTTP_SHUTDOWN_TIMEOUT" default:"20s" help:"How long a shutdown waits for in-flight HTTP requests."`

	SQLitePath string `name:"sqlite-path" env:"SQLITE_PATH" default:"data/techradar.db" help:"SQLite database file (STORE=sqlite)."`

	MySQLDSN          string `name:"mysql-dsn" env:"MYSQL_DSN" help:"MySQL DSN, e.g. user:pass@tcp(127.0.0.1:3306)/techradar (STORE=mysql or TRANSPORT=sql)."`
	MySQLMaxOpenConns int    `name:"mysql-max-open-conns" env:"MYSQL_MAX_OPEN_CONNS" default:"32" help:"Largest number of open MySQL connections."`

	RedisAddr     string `name:"redis-addr" env:"REDIS_ADDR" help:"Redis address host:port (CACHE=redis or TRANSPORT=redisstream)."`
	RedisPassword string `name:"redis-password" env:"REDIS_PASSWORD" help:"Redis password, if any."`
	RedisDB       int    `name:"redis-db" env:"REDIS_DB" default:"0" help:"Redis database number."`

	KafkaBrokers []string `name:"kafka-brokers" env:"KAFKA_BROKERS" sep:"," help:"Kafka bootstrap brokers, comma-separated (TRANSPORT=kafka)."`

	RedisStreamConsumer        string        `name:"redisstream-consumer" env:"REDISSTREAM_CONSUMER" help:"This process's consumer name in every Redis Streams group; it must differ between processes. Empty: host name and process id."`
	RedisStreamMaxLen          int64         `name:"redisstream-max-len" env:"REDISSTREAM_MAX_LEN" default:"1000000" help:"Entries a stream is trimmed to, approximately, on publish; 0 never trims. Trimming drops entries read or not: keep it above the largest backlog."`
	RedisStreamBlockTime       time.Duration `name:"redisstream-block-time" env:"REDISSTREAM_BLOCK_TIME" default:"1s" help:"How long one Redis Streams read waits for new entries."`
	RedisStreamClaimIdle       time.Duration `name:"redisstream-claim-idle" env:"REDISSTREAM_CLAIM_IDLE" default:"30s" help:"How long an unacknowledged entry waits before another consumer takes it over (how a crashed worker's messages come back); above the longest handling time."`
	RedisStreamClaimInterval   time.Duration `name:"redisstream-claim-interval" env:"REDISSTREAM_CLAIM_INTERVAL" default:"5s" help:"How often a subscriber looks for entries to take over."`
	RedisStreamNackResendSleep time.Duration `name:"redisstream-nack-resend-sleep" env:"REDISSTREAM_NACK_RESEND_SLEEP" default:"1s" help:"Pause before a nacked Redis Streams message is handled again."`
	RedisStreamConcurrency     int           `name:"redisstream-concurrency" env:"REDISSTREAM_CONCURRENCY" default:"32" help:"Messages of one handler this process works on at once on Redis Streams, each read by a consumer of its own (REDISSTREAM_CONSUMER-1, -2, ...); the commands in flight share database transactions."`

	KafkaClientID          string        `name:"kafka-client-id" env:"KAFKA_CLIENT_ID" default:"techradar" help:"Client id sent to the Kafka brokers."`
	KafkaTopicPartitions   int           `name:"kafka-topic-partitions" env:"KAFKA_TOPIC_PARTITIONS" default:"32" help:"Partitions of the topics techradar creates: the most workers that can share a handler's messages."`
	KafkaReplicationFactor int           `name:"kafka-replication-factor" env:"KAFKA_REPLICATION_FACTOR" default:"1" help:"Replication factor of the topics techradar creates (3 on a production cluster)."`
	KafkaSessionTimeout    time.Duration `name:"kafka-session-timeout" env:"KAFKA_SESSION_TIMEOUT" default:"10s" help:"How long a silent consumer keeps its partitions before the group takes them back; the broker bounds it."`
	KafkaNackResendSleep   time.Duration `name:"kafka-nack-resend-sleep" env:"KAFKA_NACK_RESEND_SLEEP" default:"1s" help:"Pause before a nacked Kafka message is handled again."`
	KafkaIdempotent        bool          `name:"kafka-idempotent" env:"KAFKA_IDEMPOTENT" default:"true" negatable:"" help:"Use the idempotent producer, so that a retried send is written once; turn off for brokers that do not allow it."`

	SQLTransportPollInterval    time.Duration `name:"sql-transport-poll-interval" env:"SQL_TRANSPORT_POLL_INTERVAL" default:"100ms" help:"Pause between two queries for new messages that found none (TRANSPORT=sql); a handler whose partitions have all been empty for a while polls less often, down to every ten pauses."`
	SQLTransportBatchSize       int           `name:"sql-transport-batch-size" env:"SQL_TRANSPORT_BATCH_SIZE" default:"100" help:"Messages read per transaction (TRANSPORT=sql); a crash redelivers what the batch had handled."`
	SQLTransportAckDeadline     time.Duration `name:"sql-transport-ack-deadline" env:"SQL_TRANSPORT_ACK_DEADLINE" default:"30s" help:"How long a handler has to acknowledge a message before it is delivered again (TRANSPORT=sql)."`
	SQLTransportPartitions      int           `name:"sql-transport-partitions" env:"SQL_TRANSPORT_PARTITIONS" default:"16" help:"Tables each topic is spread over (TRANSPORT=sql): how many messages of one handler a group handles at once. Raise it freely; drain a topic before lowering it."`
	SQLTransportNackResendSleep time.Duration `name:"sql-transport-nack-resend-sleep" env:"SQL_TRANSPORT_NACK_RESEND_SLEEP" default:"1s" help:"Pause before a nacked message is handled again (TRANSPORT=sql)."`

	PriorityMediumAt int `name:"priority-medium-at" env:"PRIORITY_MEDIUM_AT" default:"3" help:"Mentions from which a tech has medium priority."`
	PriorityHighAt   int `name:"priority-high-at" env:"PRIORITY_HIGH_AT" default:"10" help:"Mentions from which a tech has high priority."`

	SMSProvider           string        `name:"sms-provider" env:"SMS_PROVIDER" default:"fake" help:"SMS provider: fake (in-process, sends nothing; for the embedded mode and tests) or http."`
	SMSProviderURL        string        `name:"sms-provider-url" env:"SMS_PROVIDER_URL" help:"URL the http SMS provider gets one POST at per attempt (SMS_PROVIDER=http)."`
	SMSProviderTimeout    time.Duration `name:"sms-provider-timeout" env:"SMS_PROVIDER_TIMEOUT" default:"10s" help:"How long one attempt to send an SMS may take; below HANDLER_TIMEOUT."`
	SMSProviderAuthHeader string        `name:"sms-provider-auth-header" env:"SMS_PROVIDER_AUTH_HEADER" help:"Value of the Authorization header sent to the http SMS provider, e.g. 'Bearer <token>'."`
	SMSMaxAttempts        int           `name:"sms-max-attempts" env:"SMS_MAX_ATTEMPTS" default:"5" help:"Attempts to send one SMS, retries of transient failures included, before it is failed; at most HANDLER_MAX_RETRIES+1."`
	SMSFakeFailureRate    float64       `name:"sms-fake-failure-rate" env:"SMS_FAKE_FAILURE_RATE" default:"0" help:"Fraction of sends, from 0 to 1, that the fake SMS provider fails transiently (SMS_PROVIDER=fake)."`
	SMSFakeLatency        time.Duration `name:"sms-fake-latency" env:"SMS_FAKE_LATENCY" default:"0s" help:"How long each send takes on the fake SMS provider, below SMS_PROVIDER_TIMEOUT (SMS_PROVIDER=fake)."`

	CacheTTL       time.Duration `name:"cache-ttl" env:"CACHE_TTL" default:"10m" help:"Longest life of a cached answer, invalidated or not."`
	CacheKeyPrefix string        `name:"cache-key-prefix" env:"CACHE_KEY_PREFIX" default:"techradar:readmodel" help:"Prefix of the read-model keys in Redis."`

	TopicPrefix string `name:"topic-prefix" env:"TOPIC_PREFIX" default:"techradar" help:"First part of every topic name: lets several deployments share one Redis, Kafka or MySQL."`

	HandlerCloseTimeout time.Duration `name:"handler-close-timeout" env:"HANDLER_CLOSE_TIMEOUT" default:"30s" help:"How long a shutdown waits for in-flight message handlers."`
	HandlerTimeout      time.Duration `name:"handler-timeout" env:"HANDLER_TIMEOUT" default:"30s" help:"Longest time one message handler may take before it is cancelled and retried."`
	HandlerMaxRetries   int           `name:"handler-max-retries" env:"HANDLER_MAX_RETRIES" default:"5" help:"In-process retries of a failing message, with exponential backoff, before it goes to the poison topic."`
	HandlerRetryBackoff time.Duration `name:"handler-retry-backoff" env:"HANDLER_RETRY_BACKOFF" default:"100ms" help:"First pause between retries; each next one doubles, up to 5s."`
	OutboxPollInterval  time.Duration `name:"outbox-poll-interval" env:"OUTBOX_POLL_INTERVAL" default:"500ms" help:"How often the outbox relay looks for events written by other processes."`

	LogLevel  string `name:"log-level" env:"LOG_LEVEL" default:"info" help:"Least severe level logged: debug, info, warn or error."`
	LogFormat string `name:"log-format" env:"LOG_FORMAT" default:"auto" help:"Log format: json, text, or auto (text on a terminal, JSON elsewhere)."`

	PprofAddr string `name:"pprof-addr" env:"PPROF_ADDR" help:"Address of a separate listener serving Go's /debug/pprof profiles, e.g. 127.0.0.1:6060; off when empty. Never expose it publicly."`

	OTelEnabled     bool    `name:"otel-enabled" env:"OTEL_ENABLED" default:"false" help:"Export OpenTelemetry traces of HTTP requests, commands and events over OTLP/HTTP. Off (the default), no tracing code runs."`
	OTelEndpoint    string  `name:"otel-exporter-otlp-endpoint" env:"OTEL_EXPORTER_OTLP_ENDPOINT" default:"http://localhost:4318" help:"Base URL of the OTLP/HTTP collector; spans go to its /v1/traces (OTEL_ENABLED=true)."`
	OTelServiceName string  `name:"otel-service-name" env:"OTEL_SERVICE_NAME" default:"techradar" help:"service.name of the exported spans (OTEL_ENABLED=true)."`
	OTelSampleRatio float64 `name:"otel-traces-sampler-arg" env:"OTEL_TRACES_SAMPLER_ARG" default:"1" help:"Fraction of new traces recorded, from 0 to 1; a request that arrives traced keeps its caller's decision (OTEL_ENABLED=true)."`
}

// Role is which part of techradar a process runs.
type Role string

const (
	RoleServe  Role = "serve"  // the API and the workers, in one process
	RoleAPI    Role = "api"    // the HTTP API only
	RoleWorker Role = "worker" // the message handlers only
	// RoleTool is a command that opens the backends briefly and runs nothing,
	// such as `techradar poison`.
	RoleTool Role = "tool"
)

// RunsAPI reports whether the role serves the HTTP API.
func (r Role) RunsAPI() bool { return r == RoleServe || r == RoleAPI }

// RunsWorkers reports whether the role runs the message handlers.
func (r Role) RunsWorkers() bool { return r == RoleServe || r == RoleWorker }

// Validate checks every setting and how they fit together for role. The error
// names each variable at fault.
func (c Config) Validate(role Role) error {
	var errs []error
	bad := func(variable string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...)))
	}
	oneOf := func(variable, value string, allowed ...string) bool {
		for _, a := range allowed {
			if value == a {
				return true
			}
		}
		bad(variable, "%q is not one of %s", value, strings.Join(allowed, ", "))
		return false
	}

	oneOf("TRANSPORT", c.Transport, TransportGoChannel, TransportRedisStream, TransportKafka, TransportSQL)
	oneOf("STORE", c.Store, StoreSQLite, StoreMySQL)
	oneOf("CACHE", c.Cache, CacheMemory, CacheRedis)
	oneOf("LOG_LEVEL", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("LOG_FORMAT", c.LogFormat, "auto", "json", "text")

	if role.RunsAPI() {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			bad("HTTP_ADDR", "%q is not a host:port address: %v", c.HTTPAddr, err)
		}
	}
	if c.Store == StoreSQLite && c.SQLitePath == "" {
		bad("SQLITE_PATH", "is empty, but STORE=sqlite needs a file")
	}
	if (c.Store == StoreMySQL || c.Transport == TransportSQL) && c.MySQLDSN == "" {
		bad("MYSQL_DSN", "is empty, but STORE=%s and TRANSPORT=%s need MySQL", c.Store, c.Transport)
	}
	if (c.Cache == CacheRedis || c.Transport == TransportRedisStream) && c.RedisAddr == "" {
		bad("REDIS_ADDR", "is empty, but CACHE=%s and TRANSPORT=%s need Redis", c.Cache, c.Transport)
	}
	if c.Transport == TransportKafka && len(c.KafkaBrokers) == 0 {
		bad("KAFKA_BROKERS", "is empty, but TRANSPORT=kafka needs at least one broker")
	}
	if c.MySQLMaxOpenConns < 1 {
		bad("MYSQL_MAX_OPEN_CONNS", "must be at least 1, got %d", c.MySQLMaxOpenConns)
	}
	if c.RedisDB < 0 {
		bad("REDIS_DB", "must not be negative, got %d", c.RedisDB)
	}
	if c.PriorityMediumAt < 1 {
		bad("PRIORITY_MEDIUM_AT", "must be at least 1, got %d", c.PriorityMediumAt)
	}
	if c.PriorityHighAt < c.PriorityMediumAt {
		bad("PRIORITY_HIGH_AT", "(%d) must not be below PRIORITY_MEDIUM_AT (%d)", c.PriorityHighAt, c.PriorityMediumAt)
	}
	for variable, d := range map[string]time.Duration{
		"HTTP_SHUTDOWN_TIMEOUT": c.HTTPShutdownTimeout,
		"CACHE_TTL":             c.CacheTTL,
		"HANDLER_CLOSE_TIMEOUT": c.HandlerCloseTimeout,
		"OUTBOX_POLL_INTERVAL":  c.OutboxPollInterval,
		"HANDLER_TIMEOUT":       c.HandlerTimeout,
		"HANDLER_RETRY_BACKOFF": c.HandlerRetryBackoff,
	} {
		if d <= 0 {
			bad(variable, "must be a positive duration, got %s", d)
		}
	}
	if c.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			bad("PPROF_ADDR", "%q is not a host:port address: %v", c.PprofAddr, err)
		}
	}
	c.validateTransportSettings(bad)
	c.validateTracingSettings(bad)
	c.validateSMSSettings(bad)
	if c.TopicPrefix == "" || strings.Trim(c.TopicPrefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
		bad("TOPIC_PREFIX", "%q must be letters, digits, '-', '_' or '.'", c.TopicPrefix)
	}
	if c.HandlerMaxRetries < 0 {
		bad("HANDLER_MAX_RETRIES", "must not be negative, got %d", c.HandlerMaxRetries)
	}
	if c.CacheKeyPrefix == "" {
		bad("CACHE_KEY_PREFIX", "is empty")
	}

	if role == RoleAPI || role == RoleWorker {
		if c.Transport == TransportGoChannel {
			bad("TRANSPORT", "gochannel carries messages inside one process, so `%s` alone would never see the other side; run `serve`, or pick redisstream, kafka or sql", role)
		}
		if c.Cache == CacheMemory {
			bad("CACHE", "memory lives inside one process, where the workers' invalidations cannot reach it from `%s`; run `serve`, or set CACHE=redis", role)
		}
		if c.Store == StoreSQLite {
			bad("STORE", "sqlite is a file of one process; `%s` must share the store with the other role: set STORE=mysql", role)
		}
	}
	return errors.Join(errs...)
}

// kafkaClientID is what Kafka accepts as a client id.
var kafkaClientID = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// validateTransportSettings checks the settings of every transport, chosen or
// not, so that a typo shows before the day the transport is switched.
func (c Config) validateTransportSettings(bad func(variable string, format string, args ...any)) {
	if len(c.RedisStreamConsumer) > 200 || strings.IndexFunc(c.RedisStreamConsumer, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		bad("REDISSTREAM_CONSUMER", "%q must be at most 200 characters without spaces or control characters", c.RedisStreamConsumer)
	}
	if c.RedisStreamConcurrency < 1 || c.RedisStreamConcurrency > 256 {
		bad("REDISSTREAM_CONCURRENCY", "must be between 1 and 256, got %d", c.RedisStreamConcurrency)
	}
	if c.RedisStreamMaxLen < 0 {
		bad("REDISSTREAM_MAX_LEN", "must not be negative (0 never trims), got %d", c.RedisStreamMaxLen)
	}
	if !kafkaClientID.MatchString(c.KafkaClientID) {
		bad("KAFKA_CLIENT_ID", "%q must be letters, digits, '.', '_' or '-'", c.KafkaClientID)
	}
	if c.KafkaTopicPartitions < 1 || c.KafkaTopicPartitions > math.MaxInt32 {
		bad("KAFKA_TOPIC_PARTITIONS", "must be between 1 and %d, got %d", math.MaxInt32, c.KafkaTopicPartitions)
	}
	if c.KafkaReplicationFactor < 1 || c.KafkaReplicationFactor > math.MaxInt16 {
		bad("KAFKA_REPLICATION_FACTOR", "must be between 1 and %d, got %d", math.MaxInt16, c.KafkaReplicationFactor)
	}
	if c.KafkaSessionTimeout < time.Second {
		bad("KAFKA_SESSION_TIMEOUT", "must be at least 1s (brokers refuse less than 6s by default), got %s", c.KafkaSessionTimeout)
	}
	if c.SQLTransportPartitions < 1 || c.SQLTransportPartitions > 256 {
		bad("SQL_TRANSPORT_PARTITIONS", "must be between 1 and 256, got %d", c.SQLTransportPartitions)
	}
	if c.SQLTransportBatchSize < 1 || c.SQLTransportBatchSize > 10000 {
		bad("SQL_TRANSPORT_BATCH_SIZE", "must be between 1 and 10000, got %d", c.SQLTransportBatchSize)
	}
	for variable, d := range map[string]time.Duration{
		"REDISSTREAM_BLOCK_TIME":          c.RedisStreamBlockTime,
		"REDISSTREAM_CLAIM_IDLE":          c.RedisStreamClaimIdle,
		"REDISSTREAM_CLAIM_INTERVAL":      c.RedisStreamClaimInterval,
		"REDISSTREAM_NACK_RESEND_SLEEP":   c.RedisStreamNackResendSleep,
		"KAFKA_NACK_RESEND_SLEEP":         c.KafkaNackResendSleep,
		"SQL_TRANSPORT_POLL_INTERVAL":     c.SQLTransportPollInterval,
		"SQL_TRANSPORT_ACK_DEADLINE":      c.SQLTransportAckDeadline,
		"SQL_TRANSPORT_NACK_RESEND_SLEEP": c.SQLTransportNackResendSleep,
	} {
		if d <= 0 {
			bad(variable, "must be a positive duration, got %s", d)
		}
	}
}

// SMS providers that can be chosen.
const (
	SMSProviderFake = "fake"
	SMSProviderHTTP = "http"
)

// validateSMSSettings checks the SMS settings, those of the provider not chosen
// included, so that a typo shows before the day the provider is switched.
func (c Config) validateSMSSettings(bad func(variable string, format string, args ...any)) {
	if c.SMSProvider != SMSProviderFake && c.SMSProvider != SMSProviderHTTP {
		bad("SMS_PROVIDER", "%q is not one of %s, %s", c.SMSProvider, SMSProviderFake, SMSProviderHTTP)
	}
	if c.SMSProvider == SMSProviderHTTP && c.SMSProviderURL == "" {
		bad("SMS_PROVIDER_URL", "is empty, but SMS_PROVIDER=http needs the provider's URL")
	}
	if c.SMSProviderURL != "" {
		if u, err := url.Parse(c.SMSProviderURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("SMS_PROVIDER_URL", "%q is not an absolute http or https URL", c.SMSProviderURL)
		}
	}
	if c.SMSProviderTimeout <= 0 {
		bad("SMS_PROVIDER_TIMEOUT", "must be a positive duration, got %s", c.SMSProviderTimeout)
	} else if c.SMSProviderTimeout >= c.HandlerTimeout && c.HandlerTimeout > 0 {
		bad("SMS_PROVIDER_TIMEOUT", "(%s) must be below HANDLER_TIMEOUT (%s), which cancels the handler waiting for the provider", c.SMSProviderTimeout, c.HandlerTimeout)
	}
	if strings.IndexFunc(c.SMSProviderAuthHeader, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) >= 0 {
		// The value is a secret: the message does not repeat it.
		bad("SMS_PROVIDER_AUTH_HEADER", "must not contain line breaks or other control characters")
	}
	// The SMS handler asks for a retry by failing, and the message router tries
	// one delivery 1+HANDLER_MAX_RETRIES times before it poisons the message:
	// attempts beyond those would never be made.
	if c.SMSMaxAttempts < 1 || c.SMSMaxAttempts > c.HandlerMaxRetries+1 {
		bad("SMS_MAX_ATTEMPTS", "must be between 1 and HANDLER_MAX_RETRIES+1 (%d), the tries the message router gives one delivery; got %d", c.HandlerMaxRetries+1, c.SMSMaxAttempts)
	}
	if !(c.SMSFakeFailureRate >= 0 && c.SMSFakeFailureRate <= 1) {
		bad("SMS_FAKE_FAILURE_RATE", "must be between 0 and 1, got %v", c.SMSFakeFailureRate)
	}
	if c.SMSFakeLatency < 0 {
		bad("SMS_FAKE_LATENCY", "must not be negative, got %s", c.SMSFakeLatency)
	} else if c.SMSFakeLatency >= c.SMSProviderTimeout && c.SMSProviderTimeout > 0 {
		bad("SMS_FAKE_LATENCY", "(%s) must be below SMS_PROVIDER_TIMEOUT (%s), or every send times out", c.SMSFakeLatency, c.SMSProviderTimeout)
	}
}
