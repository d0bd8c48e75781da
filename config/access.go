package config

import "github.com/techradar/techradar/internal/settings"

// Authentication modes that can be chosen.
const (
	AuthOff    = "off"
	AuthAPIKey = "apikey"
)

// AuthConfig is the HTTP API's access control.
type AuthConfig struct {
	Mode        string `name:"mode" env:"MODE" default:"off" help:"Access control of the HTTP API: off (anyone who reaches HTTP_ADDR may read, write and send SMS) or apikey (every route but health, the page and the OpenAPI document needs a key from 'techradar apikey create', with the route's scope)."`
	PublicReads bool   `name:"public-reads" env:"PUBLIC_READS" default:"false" help:"With AUTH_MODE=apikey, serve the tech reads (GET /api/techs, /api/techs/{id}, /get) without a key."`
}

// Check reports every setting out of range, naming its variable.
func (c AuthConfig) Check() error {
	var p settings.Problems
	p.OneOf("AUTH_MODE", c.Mode, AuthOff, AuthAPIKey)
	return p.Err()
}

// RequiresKeys reports whether the HTTP API asks for API keys.
func (c AuthConfig) RequiresKeys() bool { return c.Mode == AuthAPIKey }
