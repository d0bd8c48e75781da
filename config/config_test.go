package config_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/techradar/techradar/config"
)

func TestDefaultIsTheEmbeddedMode(t *testing.T) {
	t.Setenv("TRANSPORT", "kafka") // the environment must not leak into Default
	c := config.Default()
	if c.Transport != "gochannel" || c.Store != "sqlite" || c.Cache != "memory" || c.HTTPAddr(config.RoleServe) != ":8080" || c.SQLite.Path == "" {
		t.Fatalf("Default() = %+v", c)
	}
	if err := c.Validate(config.RoleServe); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
}

func TestValidateNamesTheVariable(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		role   config.Role
		change func(*config.Config)
		want   []string // every one must appear in the error
	}{
		{"unknown transport", config.RoleServe, func(c *config.Config) { c.Transport = "amqp" }, []string{"TRANSPORT", "amqp"}},
		{"unknown store", config.RoleServe, func(c *config.Config) { c.Store = "postgres" }, []string{"STORE"}},
		{"unknown cache", config.RoleServe, func(c *config.Config) { c.Cache = "disk" }, []string{"CACHE"}},
		{"bad listen address", config.RoleServe, func(c *config.Config) { c.HTTP.Addr = "8080" }, []string{"HTTP_ADDR"}},
		{"mysql store without dsn", config.RoleServe, func(c *config.Config) { c.Store = "mysql" }, []string{"MYSQL_DSN"}},
		{"sql transport without dsn", config.RoleServe, func(c *config.Config) { c.Transport = "sql" }, []string{"MYSQL_DSN"}},
		{"redis cache without address", config.RoleServe, func(c *config.Config) { c.Cache = "redis" }, []string{"REDIS_ADDR"}},
		{"kafka without brokers", config.RoleServe, func(c *config.Config) { c.Transport = "kafka" }, []string{"KAFKA_BROKERS"}},
		{"thresholds reversed", config.RoleServe, func(c *config.Config) { c.Priority.MediumAt, c.Priority.HighAt = 5, 4 }, []string{"PRIORITY_HIGH_AT"}},
		{"zero medium threshold", config.RoleServe, func(c *config.Config) { c.Priority.MediumAt = 0 }, []string{"PRIORITY_MEDIUM_AT"}},
		{"negative ttl", config.RoleServe, func(c *config.Config) { c.RedisCache.TTL = -1 }, []string{"CACHE_TTL"}},
		{"bad log level", config.RoleServe, func(c *config.Config) { c.Log.Level = "loud" }, []string{"LOG_LEVEL"}},
		{"api on the in-process transport", config.RoleAPI, func(*config.Config) {}, []string{"TRANSPORT", "CACHE", "STORE"}},
		{"worker on the in-process transport", config.RoleWorker, func(*config.Config) {}, []string{"TRANSPORT"}},
		{"topic prefix with a space", config.RoleServe, func(c *config.Config) { c.TopicPrefix = "my app" }, []string{"TOPIC_PREFIX"}},
		{"negative retries", config.RoleServe, func(c *config.Config) { c.Handlers.MaxRetries = -1 }, []string{"HANDLER_MAX_RETRIES"}},
		{"zero handler timeout", config.RoleServe, func(c *config.Config) { c.Handlers.Timeout = 0 }, []string{"HANDLER_TIMEOUT"}},
		{"consumer name with a space", config.RoleServe, func(c *config.Config) { c.RedisStream.Consumer = "a b" }, []string{"REDISSTREAM_CONSUMER"}},
		{"no in-process concurrency", config.RoleServe, func(c *config.Config) { c.GoChannel.Concurrency = 0 }, []string{"GOCHANNEL_CONCURRENCY"}},
		{"in-process concurrency above 256", config.RoleServe, func(c *config.Config) { c.GoChannel.Concurrency = 257 }, []string{"GOCHANNEL_CONCURRENCY"}},
		{"no Kafka messages in flight", config.RoleServe, func(c *config.Config) { c.Kafka.InFlightPerPartition = 0 }, []string{"KAFKA_IN_FLIGHT_PER_PARTITION"}},
		{"Kafka messages in flight above 1024", config.RoleServe, func(c *config.Config) { c.Kafka.InFlightPerPartition = 1025 }, []string{"KAFKA_IN_FLIGHT_PER_PARTITION"}},
		{"no stream concurrency", config.RoleServe, func(c *config.Config) { c.RedisStream.Concurrency = 0 }, []string{"REDISSTREAM_CONCURRENCY"}},
		{"negative stream length", config.RoleServe, func(c *config.Config) { c.RedisStream.MaxLen = -1 }, []string{"REDISSTREAM_MAX_LEN"}},
		{"no kafka partitions", config.RoleServe, func(c *config.Config) { c.Kafka.TopicPartitions = 0 }, []string{"KAFKA_TOPIC_PARTITIONS"}},
		{"no kafka replication", config.RoleServe, func(c *config.Config) { c.Kafka.ReplicationFactor = 0 }, []string{"KAFKA_REPLICATION_FACTOR"}},
		{"short kafka session", config.RoleServe, func(c *config.Config) { c.Kafka.SessionTimeout = time.Millisecond }, []string{"KAFKA_SESSION_TIMEOUT"}},
		{"no kafka publish timeout", config.RoleServe, func(c *config.Config) { c.Kafka.PublishTimeout = 0 }, []string{"KAFKA_PUBLISH_TIMEOUT"}},
		{"no sql batch", config.RoleServe, func(c *config.Config) { c.SQLTransport.BatchSize = 0 }, []string{"SQL_TRANSPORT_BATCH_SIZE"}},
		{"no sql partitions", config.RoleServe, func(c *config.Config) { c.SQLTransport.Partitions = 0 }, []string{"SQL_TRANSPORT_PARTITIONS"}},
		{"several errors at once", config.RoleServe, func(c *config.Config) { c.Transport, c.Cache = "x", "y" }, []string{"TRANSPORT", "CACHE"}},
		{"unknown SMS provider", config.RoleServe, func(c *config.Config) { c.SMS.Provider = "twilio" }, []string{"SMS_PROVIDER", "twilio"}},
		{"http SMS provider without URL", config.RoleServe, func(c *config.Config) { c.SMS.Provider = "http" }, []string{"SMS_PROVIDER_URL"}},
		{"SMS provider URL not absolute", config.RoleServe, func(c *config.Config) { c.SMS.Provider, c.SMS.HTTP.URL = "http", "sms.example.com/send" }, []string{"SMS_PROVIDER_URL"}},
		{"SMS provider URL not http", config.RoleServe, func(c *config.Config) { c.SMS.HTTP.URL = "ftp://sms.example.com" }, []string{"SMS_PROVIDER_URL"}},
		{"zero SMS provider timeout", config.RoleServe, func(c *config.Config) { c.SMS.HTTP.Timeout = 0 }, []string{"SMS_PROVIDER_TIMEOUT"}},
		{"SMS provider timeout beyond the handler's", config.RoleServe, func(c *config.Config) { c.SMS.HTTP.Timeout = c.Handlers.Timeout }, []string{"SMS_PROVIDER_TIMEOUT", "HANDLER_TIMEOUT"}},
		{"SMS auth header with a line break", config.RoleServe, func(c *config.Config) { c.SMS.HTTP.Authorization = "Bearer x\r\nX-Evil: 1" }, []string{"SMS_PROVIDER_AUTH_HEADER"}},
		{"zero SMS attempts", config.RoleServe, func(c *config.Config) { c.SMS.MaxAttempts = 0 }, []string{"SMS_MAX_ATTEMPTS"}},
		{"more SMS attempts than the router makes", config.RoleServe, func(c *config.Config) { c.Handlers.MaxRetries, c.SMS.MaxAttempts = 2, 4 }, []string{"SMS_MAX_ATTEMPTS", "HANDLER_MAX_RETRIES"}},
		{"negative fake failure rate", config.RoleServe, func(c *config.Config) { c.SMS.Fake.FailureRate = -0.1 }, []string{"SMS_FAKE_FAILURE_RATE"}},
		{"fake failure rate above 1", config.RoleServe, func(c *config.Config) { c.SMS.Fake.FailureRate = 1.5 }, []string{"SMS_FAKE_FAILURE_RATE"}},
		{"fake failure rate not a number", config.RoleServe, func(c *config.Config) { c.SMS.Fake.FailureRate = math.NaN() }, []string{"SMS_FAKE_FAILURE_RATE"}},
		{"negative fake latency", config.RoleServe, func(c *config.Config) { c.SMS.Fake.Latency = -time.Second }, []string{"SMS_FAKE_LATENCY"}},
		{"zero retention interval", config.RoleServe, func(c *config.Config) { c.Retention.Interval = 0 }, []string{"RETENTION_INTERVAL"}},
		{"negative command retention", config.RoleServe, func(c *config.Config) { c.Retention.Commands = -time.Hour }, []string{"COMMAND_RETENTION"}},
		{"zero SMS retention", config.RoleServe, func(c *config.Config) { c.Retention.SMS = 0 }, []string{"SMS_RETENTION"}},
		{"fake latency beyond the timeout", config.RoleServe, func(c *config.Config) { c.SMS.Fake.Latency = c.SMS.HTTP.Timeout }, []string{"SMS_FAKE_LATENCY", "SMS_PROVIDER_TIMEOUT"}},
		{"zero resend delay", config.RoleServe, func(c *config.Config) { c.Resend.After = 0 }, []string{"COMMAND_RESEND_AFTER"}},
		{"an outbox rescue sooner than a second", config.RoleServe, func(c *config.Config) { c.Outbox.RescueAfter = 500 * time.Millisecond }, []string{"OUTBOX_RESCUE_AFTER"}},
		{"resend before a crashed worker's messages are claimed", config.RoleServe, func(c *config.Config) {
			c.Transport, c.Redis.Addr, c.Resend.After = "redisstream", "127.0.0.1:6379", c.RedisStream.ClaimIdle
		}, []string{"COMMAND_RESEND_AFTER", "REDISSTREAM_CLAIM_IDLE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := config.Default()
			tt.change(&c)
			err := c.Validate(tt.role)
			if err == nil {
				t.Fatal("Validate accepted a bad configuration")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
}

func TestValidateAcceptsSplitRolesOnSharedBackends(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.Transport, c.Store, c.Cache = "redisstream", "mysql", "redis"
	c.MySQL.DSN, c.Redis.Addr = "root@tcp(127.0.0.1:3306)/techradar", "127.0.0.1:6379"
	for _, role := range []config.Role{config.RoleAPI, config.RoleWorker, config.RoleServe} {
		if err := c.Validate(role); err != nil {
			t.Errorf("%s: %v", role, err)
		}
	}
}

func TestSMSSettings(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if c.SMS.Provider != config.SMSProviderFake || c.SMS.MaxAttempts != 5 || c.SMS.HTTP.Timeout <= 0 || c.SMS.Fake.FailureRate != 0 || c.SMS.Fake.Latency != 0 {
		t.Fatalf("SMS defaults = %+v", c)
	}
	c.SMS.Provider, c.SMS.HTTP.URL, c.SMS.HTTP.Authorization = config.SMSProviderHTTP, "https://sms.example.com/v1/messages?account=7", "Bearer abc\tdef"
	c.SMS.MaxAttempts, c.SMS.Fake.FailureRate = c.Handlers.MaxRetries+1, 1
	if err := c.Validate(config.RoleServe); err != nil {
		t.Fatalf("a valid http provider configuration: %v", err)
	}
}

// TestCommandResendAfter: a minute by default, above the Redis Streams claim
// delay, and a duration in any unit from the environment.
func TestCommandResendAfter(t *testing.T) {
	c := config.Default()
	if c.Resend.After != time.Minute || c.Resend.After <= c.RedisStream.ClaimIdle {
		t.Fatalf("COMMAND_RESEND_AFTER defaults to %s, REDISSTREAM_CLAIM_IDLE to %s", c.Resend.After, c.RedisStream.ClaimIdle)
	}
	t.Setenv("COMMAND_RESEND_AFTER", "90s")
	var fromEnv config.Config
	parser, err := kong.New(&fromEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(nil); err != nil || fromEnv.Resend.After != 90*time.Second {
		t.Fatalf("COMMAND_RESEND_AFTER=90s: %s, %v", fromEnv.Resend.After, err)
	}
	fromEnv.Transport, fromEnv.Redis.Addr = "redisstream", "127.0.0.1:6379"
	if err := fromEnv.Validate(config.RoleServe); err != nil {
		t.Fatalf("COMMAND_RESEND_AFTER=90s on Redis Streams: %v", err)
	}
}

func TestRetentionSettings(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if c.Retention.Interval != time.Minute || c.Retention.Commands != 168*time.Hour || c.Retention.SMS != 720*time.Hour || c.RedisStream.MaxLen != 0 {
		t.Fatalf("retention defaults = %+v, REDISSTREAM_MAX_LEN %d", c.Retention, c.RedisStream.MaxLen)
	}
	// Durations in seconds are fine: a test deployment keeps commands briefly.
	c.Retention.Interval, c.Retention.Commands, c.Retention.SMS = time.Second, 30*time.Second, 30*time.Second
	if err := c.Validate(config.RoleServe); err != nil {
		t.Fatalf("retention in seconds: %v", err)
	}
}
