package config_test

import (
	"strings"
	"testing"

	"github.com/techradar/techradar/config"
)

// A message about a setting that others need names only the settings in force
// that need it: never a choice that needs nothing.
func TestValidateBlamesTheSettingsThatNeedIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*config.Config)
		want    string   // the whole message about the variable
		notSaid []string // what the error must not say
	}{
		{"mysql store", func(c *config.Config) { c.Store = "mysql" },
			"MYSQL_DSN: is empty, but STORE=mysql needs MySQL", []string{"TRANSPORT"}},
		{"sql transport", func(c *config.Config) { c.Transport = "sql" },
			"MYSQL_DSN: is empty, but TRANSPORT=sql needs MySQL", []string{"STORE"}},
		{"mysql store and sql transport", func(c *config.Config) { c.Store, c.Transport = "mysql", "sql" },
			"MYSQL_DSN: is empty, but STORE=mysql and TRANSPORT=sql need MySQL", nil},
		{"redis cache", func(c *config.Config) { c.Cache = "redis" },
			"REDIS_ADDR: is empty, but CACHE=redis needs Redis", []string{"TRANSPORT"}},
		{"redis streams", func(c *config.Config) { c.Transport = "redisstream" },
			"REDIS_ADDR: is empty, but TRANSPORT=redisstream needs Redis", []string{"CACHE"}},
		{"redis cache and redis streams", func(c *config.Config) { c.Cache, c.Transport = "redis", "redisstream" },
			"REDIS_ADDR: is empty, but CACHE=redis and TRANSPORT=redisstream need Redis", nil},
		{"sqlite without a file", func(c *config.Config) { c.SQLite.Path = "" },
			"SQLITE_PATH: is empty, but STORE=sqlite needs a file", nil},
		{"kafka without brokers", func(c *config.Config) { c.Transport = "kafka" },
			"KAFKA_BROKERS: is empty, but TRANSPORT=kafka needs at least one broker", []string{"STORE", "CACHE"}},
		{"http SMS provider without URL", func(c *config.Config) { c.SMS.Provider = "http" },
			"SMS_PROVIDER_URL: is empty, but SMS_PROVIDER=http needs the provider's URL", nil},
		{"listen port out of range", func(c *config.Config) { c.HTTP.Addr = ":99999" },
			`HTTP_ADDR: ":99999" is not a host:port address: the port "99999" is not a number from 0 to 65535`, nil},
		{"listen host with a space", func(c *config.Config) { c.HTTP.Addr = "my host:8080" },
			`HTTP_ADDR: "my host:8080" is not a host:port address: the host "my host" is neither an IP address nor a host name`, nil},
		{"profiles port out of range", func(c *config.Config) { c.Pprof.Addr = "127.0.0.1:70000" },
			`PPROF_ADDR: "127.0.0.1:70000" is not a host:port address: the port "70000" is not a number from 0 to 65535`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := config.Default()
			tt.change(&c)
			err := c.Validate(config.RoleServe)
			if err == nil {
				t.Fatal("Validate accepted a bad configuration")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 1 || lines[0] != tt.want {
				t.Errorf("error:\n%s\nwant exactly:\n%s", err, tt.want)
			}
			for _, bad := range tt.notSaid {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error %q blames %s, which needs nothing here", err, bad)
				}
			}
		})
	}
}

func TestHTTPAddrDefaultsByRole(t *testing.T) {
	t.Parallel()
	c := config.Default()
	for role, want := range map[config.Role]string{
		config.RoleServe:  ":8080",
		config.RoleAPI:    ":8080",
		config.RoleWorker: ":8081",
	} {
		if got := c.HTTPAddr(role); got != want {
			t.Errorf("%s listens on %q by default, want %q", role, got, want)
		}
	}
	// Set explicitly, HTTP_ADDR wins in every role.
	c.HTTP.Addr = "127.0.0.1:9000"
	for _, role := range []config.Role{config.RoleServe, config.RoleAPI, config.RoleWorker} {
		if got := c.HTTPAddr(role); got != "127.0.0.1:9000" {
			t.Errorf("%s with HTTP_ADDR set listens on %q", role, got)
		}
	}
}

// A worker listens too (health and metrics), so its address is checked.
func TestValidateChecksTheWorkersAddress(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.Transport, c.Store, c.Cache = "redisstream", "mysql", "redis"
	c.MySQL.DSN, c.Redis.Addr = "root@tcp(127.0.0.1:3306)/techradar", "127.0.0.1:6379"
	c.HTTP.Addr = ":99999"
	if err := c.Validate(config.RoleWorker); err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") {
		t.Fatalf("worker with HTTP_ADDR=:99999: %v", err)
	}
}
