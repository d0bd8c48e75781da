package config_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/config"
)

func TestDefaultIsTheEmbeddedMode(t *testing.T) {
	t.Setenv("TRANSPORT", "kafka") // the environment must not leak into Default
	c := config.Default()
	if c.Transport != "gochannel" || c.Store != "sqlite" || c.Cache != "memory" || c.HTTPAddr != ":8080" || c.SQLitePath == "" {
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
		{"bad listen address", config.RoleServe, func(c *config.Config) { c.HTTPAddr = "8080" }, []string{"HTTP_ADDR"}},
		{"mysql store without dsn", config.RoleServe, func(c *config.Config) { c.Store = "mysql" }, []string{"MYSQL_DSN"}},
		{"sql transport without dsn", config.RoleServe, func(c *config.Config) { c.Transport = "sql" }, []string{"MYSQL_DSN"}},
		{"redis cache without address", config.RoleServe, func(c *config.Config) { c.Cache = "redis" }, []string{"REDIS_ADDR"}},
		{"kafka without brokers", config.RoleServe, func(c *config.Config) { c.Transport = "kafka" }, []string{"KAFKA_BROKERS"}},
		{"thresholds reversed", config.RoleServe, func(c *config.Config) { c.PriorityMediumAt, c.PriorityHighAt = 5, 4 }, []string{"PRIORITY_HIGH_AT"}},
		{"zero medium threshold", config.RoleServe, func(c *config.Config) { c.PriorityMediumAt = 0 }, []string{"PRIORITY_MEDIUM_AT"}},
		{"negative ttl", config.RoleServe, func(c *config.Config) { c.CacheTTL = -1 }, []string{"CACHE_TTL"}},
		{"bad log level", config.RoleServe, func(c *config.Config) { c.LogLevel = "loud" }, []string{"LOG_LEVEL"}},
		{"api on the in-process transport", config.RoleAPI, func(*config.Config) {}, []string{"TRANSPORT", "CACHE", "STORE"}},
		{"worker on the in-process transport", config.RoleWorker, func(*config.Config) {}, []string{"TRANSPORT"}},
		{"topic prefix with a space", config.RoleServe, func(c *config.Config) { c.TopicPrefix = "my app" }, []string{"TOPIC_PREFIX"}},
		{"negative retries", config.RoleServe, func(c *config.Config) { c.HandlerMaxRetries = -1 }, []string{"HANDLER_MAX_RETRIES"}},
		{"zero handler timeout", config.RoleServe, func(c *config.Config) { c.HandlerTimeout = 0 }, []string{"HANDLER_TIMEOUT"}},
		{"consumer name with a space", config.RoleServe, func(c *config.Config) { c.RedisStreamConsumer = "a b" }, []string{"REDISSTREAM_CONSUMER"}},
		{"no stream concurrency", config.RoleServe, func(c *config.Config) { c.RedisStreamConcurrency = 0 }, []string{"REDISSTREAM_CONCURRENCY"}},
		{"negative stream length", config.RoleServe, func(c *config.Config) { c.RedisStreamMaxLen = -1 }, []string{"REDISSTREAM_MAX_LEN"}},
		{"no kafka partitions", config.RoleServe, func(c *config.Config) { c.KafkaTopicPartitions = 0 }, []string{"KAFKA_TOPIC_PARTITIONS"}},
		{"no kafka replication", config.RoleServe, func(c *config.Config) { c.KafkaReplicationFactor = 0 }, []string{"KAFKA_REPLICATION_FACTOR"}},
		{"short kafka session", config.RoleServe, func(c *config.Config) { c.KafkaSessionTimeout = time.Millisecond }, []string{"KAFKA_SESSION_TIMEOUT"}},
		{"no sql batch", config.RoleServe, func(c *config.Config) { c.SQLTransportBatchSize = 0 }, []string{"SQL_TRANSPORT_BATCH_SIZE"}},
		{"no sql partitions", config.RoleServe, func(c *config.Config) { c.SQLTransportPartitions = 0 }, []string{"SQL_TRANSPORT_PARTITIONS"}},
		{"several errors at once", config.RoleServe, func(c *config.Config) { c.Transport, c.Cache = "x", "y" }, []string{"TRANSPORT", "CACHE"}},
		{"unknown SMS provider", config.RoleServe, func(c *config.Config) { c.SMSProvider = "twilio" }, []string{"SMS_PROVIDER", "twilio"}},
		{"http SMS provider without URL", config.RoleServe, func(c *config.Config) { c.SMSProvider = "http" }, []string{"SMS_PROVIDER_URL"}},
		{"SMS provider URL not absolute", config.RoleServe, func(c *config.Config) { c.SMSProvider, c.SMSProviderURL = "http", "sms.example.com/send" }, []string{"SMS_PROVIDER_URL"}},
		{"SMS provider URL not http", config.RoleServe, func(c *config.Config) { c.SMSProviderURL = "ftp://sms.example.com" }, []string{"SMS_PROVIDER_URL"}},
		{"zero SMS provider timeout", config.RoleServe, func(c *config.Config) { c.SMSProviderTimeout = 0 }, []string{"SMS_PROVIDER_TIMEOUT"}},
		{"SMS provider timeout beyond the handler's", config.RoleServe, func(c *config.Config) { c.SMSProviderTimeout = c.HandlerTimeout }, []string{"SMS_PROVIDER_TIMEOUT", "HANDLER_TIMEOUT"}},
		{"SMS auth header with a line break", config.RoleServe, func(c *config.Config) { c.SMSProviderAuthHeader = "Bearer x\r\nX-Evil: 1" }, []string{"SMS_PROVIDER_AUTH_HEADER"}},
		{"zero SMS attempts", config.RoleServe, func(c *config.Config) { c.SMSMaxAttempts = 0 }, []string{"SMS_MAX_ATTEMPTS"}},
		{"more SMS attempts than the router makes", config.RoleServe, func(c *config.Config) { c.HandlerMaxRetries, c.SMSMaxAttempts = 2, 4 }, []string{"SMS_MAX_ATTEMPTS", "HANDLER_MAX_RETRIES"}},
		{"negative fake failure rate", config.RoleServe, func(c *config.Config) { c.SMSFakeFailureRate = -0.1 }, []string{"SMS_FAKE_FAILURE_RATE"}},
		{"fake failure rate above 1", config.RoleServe, func(c *config.Config) { c.SMSFakeFailureRate = 1.5 }, []string{"SMS_FAKE_FAILURE_RATE"}},
		{"fake failure rate not a number", config.RoleServe, func(c *config.Config) { c.SMSFakeFailureRate = math.NaN() }, []string{"SMS_FAKE_FAILURE_RATE"}},
		{"negative fake latency", config.RoleServe, func(c *config.Config) { c.SMSFakeLatency = -time.Second }, []string{"SMS_FAKE_LATENCY"}},
		{"fake latency beyond the timeout", config.RoleServe, func(c *config.Config) { c.SMSFakeLatency = c.SMSProviderTimeout }, []string{"SMS_FAKE_LATENCY", "SMS_PROVIDER_TIMEOUT"}},
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
	c.MySQLDSN, c.RedisAddr = "root@tcp(127.0.0.1:3306)/techradar", "127.0.0.1:6379"
	for _, role := range []config.Role{config.RoleAPI, config.RoleWorker, config.RoleServe} {
		if err := c.Validate(role); err != nil {
			t.Errorf("%s: %v", role, err)
		}
	}
}

func TestSMSSettings(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if c.SMSProvider != config.SMSProviderFake || c.SMSMaxAttempts != 5 || c.SMSProviderTimeout <= 0 || c.SMSFakeFailureRate != 0 || c.SMSFakeLatency != 0 {
		t.Fatalf("SMS defaults = %+v", c)
	}
	c.SMSProvider, c.SMSProviderURL, c.SMSProviderAuthHeader = config.SMSProviderHTTP, "https://sms.example.com/v1/messages?account=7", "Bearer abc\tdef"
	c.SMSMaxAttempts, c.SMSFakeFailureRate = c.HandlerMaxRetries+1, 1
	if err := c.Validate(config.RoleServe); err != nil {
		t.Fatalf("a valid http provider configuration: %v", err)
	}
}
