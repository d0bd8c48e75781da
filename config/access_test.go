package config_test

import (
	"strings"
	"testing"

	"github.com/techradar/techradar/config"
)

func TestAuthSettings(t *testing.T) {
	t.Parallel()
	c := config.Default()
	if c.Auth.Mode != config.AuthOff || c.Auth.PublicReads || c.Auth.RequiresKeys() {
		t.Fatalf("access control is not off by default: %+v", c.Auth)
	}
	c.Auth.Mode = config.AuthAPIKey
	if err := c.Validate(config.RoleServe); err != nil || !c.Auth.RequiresKeys() {
		t.Fatalf("AUTH_MODE=apikey: %v", err)
	}
	c.Auth.Mode = "oauth"
	if err := c.Validate(config.RoleServe); err == nil || !strings.Contains(err.Error(), "AUTH_MODE") {
		t.Fatalf("AUTH_MODE=oauth: %v, want an error naming AUTH_MODE", err)
	}
}
