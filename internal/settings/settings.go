// Package settings collects what is wrong with a group of settings, each
// problem naming the environment variable at fault, so that one report lists
// every problem at once. The configuration and the adapters whose settings it
// embeds check their settings with it.
package settings

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Problems is what a check found wrong; empty when nothing was.
type Problems []error

// Add records that variable is wrong, as format says.
func (p *Problems) Add(variable, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...)))
}

// Include records what another check found, if anything.
func (p *Problems) Include(err error) {
	if err != nil {
		*p = append(*p, err)
	}
}

// Positive records variable unless d is above zero.
func (p *Problems) Positive(variable string, d time.Duration) {
	if d <= 0 {
		p.Add(variable, "must be a positive duration, got %s", d)
	}
}

// OneOf records variable unless value is one of allowed.
func (p *Problems) OneOf(variable, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	p.Add(variable, "%q is not one of %s", value, strings.Join(allowed, ", "))
}

// HostPort records variable unless addr is an address to listen on:
// host:port, where the host is empty (every interface), an IP address or a
// host name, and the port a number from 0 to 65535 (0 picks a free one), so
// that a bad address stops the start instead of failing the listener later.
func (p *Problems) HostPort(variable, addr string) {
	if err := checkListenAddress(addr); err != nil {
		p.Add(variable, "%q is not a host:port address: %v", addr, err)
	}
}

// Err is every problem joined, or nil when there is none.
func (p Problems) Err() error { return errors.Join(p...) }
