package config

import (
	"time"

	"github.com/techradar/techradar/adapters/smsprovider"
	"github.com/techradar/techradar/internal/settings"
)

// The groups of settings that belong to no adapter. Each is embedded in Config
// under the prefix of its flags and variables, and checks itself with Check
// (not Validate, which the command line parser would call on its own while
// parsing, one group at a time). What depends on another group or on the
// backends chosen is checked by Config.Validate.

// HTTPConfig is the HTTP server's.
type HTTPConfig struct {
	Addr            string        `name:"addr" env:"ADDR" help:"Address the HTTP server listens on; when unset :8080 for serve and api, :8081 for worker (health and metrics only)."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" env:"SHUTDOWN_TIMEOUT" default:"20s" help:"How long a shutdown waits for in-flight HTTP requests."`
}

// Check reports every setting out of range, naming its variable. The address
// is checked by Config.Validate, for the roles that serve the API.
func (c HTTPConfig) Check() error {
	var p settings.Problems
	p.Positive("HTTP_SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
	return p.Err()
}

// RedisConfig is the connection to Redis, which the Redis cache and the Redis
// Streams transport share.
type RedisConfig struct {
	Addr     string `name:"addr" env:"ADDR" help:"Redis address host:port (CACHE=redis or TRANSPORT=redisstream)."`
	Password string `name:"password" env:"PASSWORD" help:"Redis password, if any."`
	DB       int    `name:"db" env:"DB" default:"0" help:"Redis database number."`
}

// Check reports every setting out of range, naming its variable.
func (c RedisConfig) Check() error {
	var p settings.Problems
	if c.DB < 0 {
		p.Add("REDIS_DB", "must not be negative, got %d", c.DB)
	}
	return p.Err()
}

// PriorityConfig is the thresholds of the priority policy.
type PriorityConfig struct {
	MediumAt int `name:"medium-at" env:"MEDIUM_AT" default:"3" help:"Mentions from which a tech has medium priority."`
	HighAt   int `name:"high-at" env:"HIGH_AT" default:"10" help:"Mentions from which a tech has high priority."`
}

// Check reports every setting out of range, naming its variable.
func (c PriorityConfig) Check() error {
	var p settings.Problems
	if c.MediumAt < 1 {
		p.Add("PRIORITY_MEDIUM_AT", "must be at least 1, got %d", c.MediumAt)
	}
	if c.HighAt < c.MediumAt {
		p.Add("PRIORITY_HIGH_AT", "(%d) must not be below PRIORITY_MEDIUM_AT (%d)", c.HighAt, c.MediumAt)
	}
	return p.Err()
}

// SMS providers that can be chosen.
const (
	SMSProviderFake = "fake"
	SMSProviderHTTP = "http"
)

// SMSConfig is the SMS flow's: the provider chosen, the attempts, and the
// settings of each provider, those of the provider not chosen included.
type SMSConfig struct {
	Provider    string                 `name:"provider" env:"PROVIDER" default:"fake" help:"SMS provider: fake (in-process, sends nothing; for the embedded mode and tests) or http."`
	HTTP        smsprovider.HTTPConfig `embed:"" prefix:"provider-" envprefix:"PROVIDER_"`
	MaxAttempts int                    `name:"max-attempts" env:"MAX_ATTEMPTS" default:"5" help:"Attempts to send one SMS, retries of transient failures included, before it is failed; at most HANDLER_MAX_RETRIES+1."`
	Fake        smsprovider.FakeConfig `embed:"" prefix:"fake-" envprefix:"FAKE_"`
}

// AttemptTimeout bounds one attempt to send an SMS, whatever the provider:
// SMS_PROVIDER_TIMEOUT, which is also the http provider's request timeout.
func (c SMSConfig) AttemptTimeout() time.Duration { return c.HTTP.Timeout }

// Check reports every setting out of range, naming its variable. The bound
// HANDLER_MAX_RETRIES sets SMS_MAX_ATTEMPTS is checked by Config.Validate.
func (c SMSConfig) Check() error {
	var p settings.Problems
	p.OneOf("SMS_PROVIDER", c.Provider, SMSProviderFake, SMSProviderHTTP)
	if c.Provider == SMSProviderHTTP && c.HTTP.URL == "" {
		p.Add("SMS_PROVIDER_URL", "is empty, but SMS_PROVIDER=http needs the provider's URL")
	}
	p.Include(c.HTTP.Check())
	p.Include(c.Fake.Check())
	if c.Fake.Latency >= 0 && c.HTTP.Timeout > 0 && c.Fake.Latency >= c.HTTP.Timeout {
		p.Add("SMS_FAKE_LATENCY", "(%s) must be below SMS_PROVIDER_TIMEOUT (%s), or every send times out", c.Fake.Latency, c.HTTP.Timeout)
	}
	return p.Err()
}

// HandlersConfig is the message router's: how long and how often a message
// handler runs.
type HandlersConfig struct {
	CloseTimeout time.Duration `name:"close-timeout" env:"CLOSE_TIMEOUT" default:"30s" help:"How long a shutdown waits for in-flight message handlers."`
	Timeout      time.Duration `name:"timeout" env:"TIMEOUT" default:"30s" help:"Longest time one message handler may take before it is cancelled and retried."`
	MaxRetries   int           `name:"max-retries" env:"MAX_RETRIES" default:"5" help:"In-process retries of a failing message, with exponential backoff, before it goes to the poison topic."`
	RetryBackoff time.Duration `name:"retry-backoff" env:"RETRY_BACKOFF" default:"100ms" help:"First pause between retries; each next one doubles, up to 5s."`
}

// Check reports every setting out of range, naming its variable.
func (c HandlersConfig) Check() error {
	var p settings.Problems
	p.Positive("HANDLER_CLOSE_TIMEOUT", c.CloseTimeout)
	p.Positive("HANDLER_TIMEOUT", c.Timeout)
	p.Positive("HANDLER_RETRY_BACKOFF", c.RetryBackoff)
	if c.MaxRetries < 0 {
		p.Add("HANDLER_MAX_RETRIES", "must not be negative, got %d", c.MaxRetries)
	}
	return p.Err()
}

// ResendConfig is the command resender's, which the worker role runs: it
// sends again the commands a transport lost.
type ResendConfig struct {
	After time.Duration `name:"resend-after" env:"RESEND_AFTER" default:"1m" help:"How long an accepted command stays pending before a worker sends it again from the command log, in case the transport lost it; above REDISSTREAM_CLAIM_IDLE, after which a crashed worker's messages come back on their own."`
}

// Check reports every setting out of range, naming its variable. Its bound
// REDISSTREAM_CLAIM_IDLE is checked by Config.Validate.
func (c ResendConfig) Check() error {
	var p settings.Problems
	p.Positive("COMMAND_RESEND_AFTER", c.After)
	return p.Err()
}

// LogConfig is the log's.
type LogConfig struct {
	Level  string `name:"level" env:"LEVEL" default:"info" help:"Least severe level logged: debug, info, warn or error."`
	Format string `name:"format" env:"FORMAT" default:"auto" help:"Log format: json, text, or auto (text on a terminal, JSON elsewhere)."`
}

// Check reports every setting out of range, naming its variable.
func (c LogConfig) Check() error {
	var p settings.Problems
	p.OneOf("LOG_LEVEL", c.Level, "debug", "info", "warn", "error")
	p.OneOf("LOG_FORMAT", c.Format, "auto", "json", "text")
	return p.Err()
}

// PprofConfig is the profiles' listener's.
type PprofConfig struct {
	Addr string `name:"addr" env:"ADDR" help:"Address of a separate listener serving Go's /debug/pprof profiles, e.g. 127.0.0.1:6060; off when empty. Never expose it publicly."`
}

// Check reports every setting out of range, naming its variable.
func (c PprofConfig) Check() error {
	var p settings.Problems
	if c.Addr != "" {
		p.HostPort("PPROF_ADDR", c.Addr)
	}
	return p.Err()
}
