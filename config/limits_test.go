package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/techradar/techradar/app/limit"
	"github.com/techradar/techradar/config"
)

func TestAccessDefaults(t *testing.T) {
	t.Parallel()
	c := config.Default().Limits
	if len(c.CORSAllowedOrigins) != 1 || c.CORSAllowedOrigins[0] != "*" || c.RateLimit != "" || c.AdminAddr != "" || len(c.TrustedProxies) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.Requests().IsZero() {
		t.Errorf("RATE_LIMIT is on by default: %v", c.Requests())
	}
	if got := c.SMSPerNumber(); got != (limit.Rate{Count: 10, Period: time.Hour}) {
		t.Errorf("SMS_NUMBER_LIMIT by default = %v, want 10/1h", got)
	}
}

func TestAccessSettingsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*config.LimitsConfig)
		want   string
	}{
		{"rate without a period", func(c *config.LimitsConfig) { c.RateLimit = "100" }, "RATE_LIMIT"},
		{"rate of zero", func(c *config.LimitsConfig) { c.RateLimit = "0/1s" }, "RATE_LIMIT"},
		{"rate finer than the limiters count", func(c *config.LimitsConfig) { c.RateLimit = "2000000/1ms" }, "RATE_LIMIT"},
		{"rate with a bad period", func(c *config.LimitsConfig) { c.RateLimit = "10/fortnight" }, "RATE_LIMIT"},
		{"sms limit garbled", func(c *config.LimitsConfig) { c.SMSNumberLimit = "ten an hour" }, "SMS_NUMBER_LIMIT"},
		{"bad cidr", func(c *config.LimitsConfig) { c.TrustedProxies = []string{"10.0.0.0/33"} }, "TRUSTED_PROXIES"},
		{"proxy by name", func(c *config.LimitsConfig) { c.TrustedProxies = []string{"proxy.local"} }, "TRUSTED_PROXIES"},
		{"origin with a path", func(c *config.LimitsConfig) { c.CORSAllowedOrigins = []string{"https://a.example/"} }, "CORS_ALLOWED_ORIGINS"},
		{"origin without scheme", func(c *config.LimitsConfig) { c.CORSAllowedOrigins = []string{"a.example"} }, "CORS_ALLOWED_ORIGINS"},
		{"origin with a wildcard", func(c *config.LimitsConfig) { c.CORSAllowedOrigins = []string{"https://*.example"} }, "CORS_ALLOWED_ORIGINS"},
		{"no origin", func(c *config.LimitsConfig) { c.CORSAllowedOrigins = nil }, "CORS_ALLOWED_ORIGINS"},
		{"admin address without port", func(c *config.LimitsConfig) { c.AdminAddr = "localhost" }, "ADMIN_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := config.Default()
			tt.change(&c.Limits)
			err := c.Validate(config.RoleServe)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestAccessSettingsAccepted(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.Limits = config.LimitsConfig{
		CORSAllowedOrigins: []string{"https://radar.example", "http://localhost:3000", "http://[::1]:8080"},
		RateLimit:          "100/1s",
		SMSNumberLimit:     "off",
		TrustedProxies:     []string{"10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8"},
		AdminAddr:          "127.0.0.1:9090",
	}
	if err := c.Validate(config.RoleServe); err != nil {
		t.Fatal(err)
	}
	if got := c.Limits.Requests(); got != (limit.Rate{Count: 100, Period: time.Second}) {
		t.Errorf("Requests() = %v", got)
	}
	if !c.Limits.SMSPerNumber().IsZero() {
		t.Errorf("SMS_NUMBER_LIMIT=off is %v", c.Limits.SMSPerNumber())
	}
	c.Limits.SMSNumberLimit = "0"
	if !c.Limits.SMSPerNumber().IsZero() {
		t.Errorf("SMS_NUMBER_LIMIT=0 is %v", c.Limits.SMSPerNumber())
	}
	if nets := c.Limits.TrustedProxyNets(); len(nets) != 4 || nets[1].String() != "192.168.1.7/32" || nets[2].String() != "::1/128" {
		t.Errorf("TrustedProxyNets() = %v", nets)
	}
}

func TestAccessVariablesAreRead(t *testing.T) {
	t.Setenv("CORS_ALLOWED_ORIGINS", "https://a.example,https://b.example")
	t.Setenv("TRUSTED_PROXIES", "10.0.0.1,10.1.0.0/16")
	t.Setenv("RATE_LIMIT", "5/1m")
	var c config.Config
	parser, err := kong.New(&c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if len(c.Limits.CORSAllowedOrigins) != 2 || len(c.Limits.TrustedProxies) != 2 || c.Limits.RateLimit != "5/1m" {
		t.Fatalf("read %+v", c.Limits)
	}
	var help strings.Builder
	parser.Stdout = &help
	parser.Exit = func(int) {}
	_, _ = parser.Parse([]string{"--help"})
	for _, variable := range []string{"CORS_ALLOWED_ORIGINS", "RATE_LIMIT", "SMS_NUMBER_LIMIT", "TRUSTED_PROXIES", "ADMIN_ADDR"} {
		if !strings.Contains(help.String(), variable) {
			t.Errorf("--help does not list %s", variable)
		}
	}
}
