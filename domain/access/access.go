// Package access names who is calling and what they may do: the scopes an API
// key grants, and the principal a request was authenticated as. It knows no
// HTTP and no storage; the HTTP port authenticates, and the use cases and
// limiters read the principal from the context.
package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Scope is one permission an API key grants.
type Scope string

const (
	TechsRead  Scope = "techs:read"
	TechsWrite Scope = "techs:write"
	SMSSend    Scope = "sms:send"
	SMSRead    Scope = "sms:read"
	// Admin grants the operators' surfaces (metrics on the public listener,
	// curating the radar). It does not imply the other scopes.
	Admin Scope = "admin"
)

// Scopes lists every scope, in the order the docs give them.
var Scopes = []Scope{TechsRead, TechsWrite, SMSSend, SMSRead, Admin}

// ParseScopes reads a comma-separated list of scopes, such as
// "techs:read,techs:write". It refuses an unknown or empty scope.
func ParseScopes(list string) ([]Scope, error) {
	var scopes []Scope
	for _, part := range strings.Split(list, ",") {
		scope := Scope(strings.TrimSpace(part))
		if !slices.Contains(Scopes, scope) {
			return nil, fmt.Errorf("unknown scope %q (known: %s)", scope, JoinScopes(Scopes))
		}
		if !slices.Contains(scopes, scope) {
			scopes = append(scopes, scope)
		}
	}
	return scopes, nil
}

// JoinScopes writes scopes as ParseScopes reads them.
func JoinScopes(scopes []Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

// Principal is who a request was authenticated as: an API key, by its name.
type Principal struct {
	// KeyName is the key's name, unique among keys; it identifies the client
	// for rate limits and Idempotency-Key scopes.
	KeyName string
	Scopes  []Scope
}

// Can tells whether the principal was granted scope.
func (p Principal) Can(scope Scope) bool { return slices.Contains(p.Scopes, scope) }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, if the request was
// authenticated (never when AUTH_MODE is off, or for a public read without a
// key).
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
