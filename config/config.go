// Package config is techradar's one typed configuration. Every setting comes
// from an environment variable or its flag (the flag wins), has a default that
// runs the embedded mode, and is validated before anything starts. No other
// package reads the environment.
package config

import (
	"strings"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/settings"
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

// Config is every setting, in groups. The struct tags are read by the command
// line parser: env names the variable, default its value when unset, help what
// --help says. A group is embedded with the prefix of its flags and of its
// variables; the settings of the transports, the Redis cache and the SMS
// providers are those packages' own configurations, which their constructors
// take as they are. The settings several of them share, MySQL's and Redis's
// connections, are groups of their own.
type Config struct {
	Transport   string `env:"TRANSPORT" default:"gochannel" help:"Message transport: gochannel (in-process), redisstream, kafka or sql (MySQL)."`
	Store       string `env:"STORE" default:"sqlite" help:"Store of techs and commands: sqlite (local file) or mysql."`
	Cache       string `env:"CACHE" default:"memory" help:"Read-model cache: memory (in-process) or redis."`
	TopicPrefix string `name:"topic-prefix" env:"TOPIC_PREFIX" default:"techradar" help:"First part of every topic name: lets several deployments share one Redis, Kafka or MySQL."`

	HTTP   HTTPConfig            `embed:"" prefix:"http-" envprefix:"HTTP_" group:"HTTP"`
	Auth   AuthConfig            `embed:"" prefix:"auth-" envprefix:"AUTH_" group:"Access control"`
	SQLite sqlstore.SQLiteConfig `embed:"" prefix:"sqlite-" envprefix:"SQLITE_" group:"SQLite"`
	MySQL  mysqldb.Config        `embed:"" prefix:"mysql-" envprefix:"MYSQL_" group:"MySQL"`
	Redis  RedisConfig           `embed:"" prefix:"redis-" envprefix:"REDIS_" group:"Redis"`

	GoChannel    transport.GoChannelConfig   `embed:"" prefix:"gochannel-" envprefix:"GOCHANNEL_" group:"In-process transport"`
	RedisStream  transport.RedisStreamConfig `embed:"" prefix:"redisstream-" envprefix:"REDISSTREAM_" group:"Redis Streams transport"`
	Kafka        transport.KafkaConfig       `embed:"" prefix:"kafka-" envprefix:"KAFKA_" group:"Kafka transport"`
	SQLTransport transport.SQLConfig         `embed:"" prefix:"sql-transport-" envprefix:"SQL_TRANSPORT_" group:"SQL transport"`
	RedisCache   cache.RedisConfig           `embed:"" prefix:"cache-" envprefix:"CACHE_" group:"Cache"`

	Priority PriorityConfig             `embed:"" prefix:"priority-" envprefix:"PRIORITY_" group:"Priority"`
	SMS      SMSConfig                  `embed:"" prefix:"sms-" envprefix:"SMS_" group:"SMS"`
	Handlers HandlersConfig             `embed:"" prefix:"handler-" envprefix:"HANDLER_" group:"Message handlers"`
	Outbox   sqlstore.OutboxRelayConfig `embed:"" prefix:"outbox-" envprefix:"OUTBOX_" group:"Message handlers"`
	Resend   ResendConfig               `embed:"" prefix:"command-" envprefix:"COMMAND_" group:"Message handlers"`

	// Retention's variables have no common prefix: RETENTION_INTERVAL,
	// COMMAND_RETENTION, SMS_RETENTION.
	Retention sqlstore.RetentionConfig `embed:"" group:"Retention"`

	// Limits' variables have no common prefix: CORS_ALLOWED_ORIGINS,
	// RATE_LIMIT, SMS_NUMBER_LIMIT, TRUSTED_PROXIES, ADMIN_ADDR.
	Limits LimitsConfig `embed:"" group:"Access control"`

	// Runtime's variables are the Go runtime's own: GOGC, GOMEMLIMIT.
	Runtime RuntimeConfig `embed:"" group:"Go runtime"`

	Log   LogConfig   `embed:"" prefix:"log-" envprefix:"LOG_" group:"Logging"`
	Pprof PprofConfig `embed:"" prefix:"pprof-" envprefix:"PPROF_" group:"Profiling"`
	OTel  OTelConfig  `embed:"" prefix:"otel-" envprefix:"OTEL_" group:"Tracing"`
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
	var p settings.Problems
	p.OneOf("TRANSPORT", c.Transport, TransportGoChannel, TransportRedisStream, TransportKafka, TransportSQL)
	p.OneOf("STORE", c.Store, StoreSQLite, StoreMySQL)
	p.OneOf("CACHE", c.Cache, CacheMemory, CacheRedis)
	if c.TopicPrefix == "" || strings.Trim(c.TopicPrefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
		p.Add("TOPIC_PREFIX", "%q must be letters, digits, '-', '_' or '.'", c.TopicPrefix)
	}
	// Every group is checked, that of a backend not chosen included, so that
	// a typo shows before the day the backend is switched.
	for _, group := range []interface{ Check() error }{
		c.HTTP, c.MySQL, c.Redis, c.GoChannel, c.RedisStream, c.Kafka, c.SQLTransport, c.RedisCache,
		c.Priority, c.SMS, c.Handlers, c.Outbox, c.Log, c.Pprof, c.OTel, c.Resend,
		c.Retention, c.Auth, c.Limits, c.Runtime,
	} {
		p.Include(group.Check())
	}
	c.checkAcrossGroups(role, &p)
	return p.Err()
}

// checkAcrossGroups checks what one group cannot check alone: the settings the
// chosen backends and role need, and the bounds one group sets another.
func (c Config) checkAcrossGroups(role Role, p *settings.Problems) {
	// Every role but a tool listens: a worker for its health and metrics.
	if role != RoleTool {
		p.HostPort("HTTP_ADDR", c.HTTPAddr(role))
	}
	if c.Store == StoreSQLite && c.SQLite.Path == "" {
		p.Add("SQLITE_PATH", "is empty, but STORE=sqlite needs a file")
	}
	if (c.Store == StoreMySQL || c.Transport == TransportSQL) && c.MySQL.DSN == "" {
		who, verb := needs(choice{"STORE=mysql", c.Store == StoreMySQL}, choice{"TRANSPORT=sql", c.Transport == TransportSQL})
		p.Add("MYSQL_DSN", "is empty, but %s %s MySQL", who, verb)
	}
	if (c.Cache == CacheRedis || c.Transport == TransportRedisStream) && c.Redis.Addr == "" {
		who, verb := needs(choice{"CACHE=redis", c.Cache == CacheRedis}, choice{"TRANSPORT=redisstream", c.Transport == TransportRedisStream})
		p.Add("REDIS_ADDR", "is empty, but %s %s Redis", who, verb)
	}
	if c.Transport == TransportKafka && len(c.Kafka.Brokers) == 0 {
		p.Add("KAFKA_BROKERS", "is empty, but TRANSPORT=kafka needs at least one broker")
	}
	if timeout := c.SMS.AttemptTimeout(); timeout > 0 && c.Handlers.Timeout > 0 && timeout >= c.Handlers.Timeout {
		p.Add("SMS_PROVIDER_TIMEOUT", "(%s) must be below HANDLER_TIMEOUT (%s), which cancels the handler waiting for the provider", timeout, c.Handlers.Timeout)
	}
	// The SMS handler asks for a retry by failing, and the message router tries
	// one delivery 1+HANDLER_MAX_RETRIES times before it poisons the message:
	// attempts beyond those would never be made.
	if c.SMS.MaxAttempts < 1 || c.SMS.MaxAttempts > c.Handlers.MaxRetries+1 {
		p.Add("SMS_MAX_ATTEMPTS", "must be between 1 and HANDLER_MAX_RETRIES+1 (%d), the tries the message router gives one delivery; got %d", c.Handlers.MaxRetries+1, c.SMS.MaxAttempts)
	}

	// A resend sooner would send again every message a crashed worker holds,
	// before Redis Streams hands it to another worker anyway.
	if c.Transport == TransportRedisStream && c.Resend.After > 0 && c.Resend.After <= c.RedisStream.ClaimIdle {
		p.Add("COMMAND_RESEND_AFTER", "(%s) must be above REDISSTREAM_CLAIM_IDLE (%s), after which Redis Streams redelivers a crashed worker's messages itself", c.Resend.After, c.RedisStream.ClaimIdle)
	}

	if role == RoleAPI || role == RoleWorker {
		if c.Transport == TransportGoChannel {
			p.Add("TRANSPORT", "gochannel carries messages inside one process, so `%s` alone would never see the other side; run `serve`, or pick redisstream, kafka or sql", role)
		}
		if c.Cache == CacheMemory {
			p.Add("CACHE", "memory lives inside one process, where the workers' invalidations cannot reach it from `%s`; run `serve`, or set CACHE=redis", role)
		}
		if c.Store == StoreSQLite {
			p.Add("STORE", "sqlite is a file of one process; `%s` must share the store with the other role: set STORE=mysql", role)
		}
	}
}
