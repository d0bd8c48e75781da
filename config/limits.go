package config

import (
	"net"
	"net/url"
	"strings"

	"github.com/techradar/techradar/app/limit"
	"github.com/techradar/techradar/internal/settings"
)

// LimitsConfig is what the HTTP API lets browsers and clients do and how
// often: CORS, the rate limits, the proxies trusted to name the client, and
// the operators' listener. Its variables have no common prefix.
type LimitsConfig struct {
	CORSAllowedOrigins []string `name:"cors-allowed-origins" env:"CORS_ALLOWED_ORIGINS" default:"*" sep:"," help:"Origins whose pages may call the API from a browser, comma-separated scheme://host[:port], or * for any."`
	RateLimit          string   `name:"rate-limit" env:"RATE_LIMIT" help:"Requests allowed per API key, or per client address without one, as <n>/<duration> (e.g. 100/1s); off when empty. Shared through Redis when REDIS_ADDR is set."`
	SMSNumberLimit     string   `name:"sms-number-limit" env:"SMS_NUMBER_LIMIT" default:"10/1h" help:"SMS allowed to one destination number, whoever asks, as <n>/<duration>; off or 0 disables. Shared through Redis when REDIS_ADDR is set."`
	TrustedProxies     []string `name:"trusted-proxies" env:"TRUSTED_PROXIES" sep:"," help:"Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client; without them the peer's address does."`
	AdminAddr          string   `name:"admin-addr" env:"ADMIN_ADDR" help:"Address of a listener of its own serving /metrics and /debug/pprof, e.g. 127.0.0.1:9090; none when empty. Never expose it publicly."`
}

// Requests is RATE_LIMIT; zero when off. Valid once Check passed.
func (c LimitsConfig) Requests() limit.Rate {
	if isOff(c.RateLimit) {
		return limit.Rate{}
	}
	r, _ := limit.ParseRate(c.RateLimit)
	return r
}

// SMSPerNumber is SMS_NUMBER_LIMIT; zero when off. Valid once Check passed.
func (c LimitsConfig) SMSPerNumber() limit.Rate {
	if isOff(c.SMSNumberLimit) || strings.TrimSpace(c.SMSNumberLimit) == "0" {
		return limit.Rate{}
	}
	r, _ := limit.ParseRate(c.SMSNumberLimit)
	return r
}

// TrustedProxyNets is TRUSTED_PROXIES, an IP being a network of one address.
// Valid once Check passed.
func (c LimitsConfig) TrustedProxyNets() []*net.IPNet {
	var nets []*net.IPNet
	for _, proxy := range c.TrustedProxies {
		if n, err := parseIPOrCIDR(proxy); err == nil {
			nets = append(nets, n)
		}
	}
	return nets
}

// Check reports every setting out of range, naming its variable.
func (c LimitsConfig) Check() error {
	var p settings.Problems
	if len(c.CORSAllowedOrigins) == 0 {
		p.Add("CORS_ALLOWED_ORIGINS", "is empty: name the origins allowed, or * for any")
	}
	for _, origin := range c.CORSAllowedOrigins {
		if err := checkOrigin(origin); err != "" {
			p.Add("CORS_ALLOWED_ORIGINS", "%q %s", origin, err)
		}
	}
	if !isOff(c.RateLimit) {
		if _, err := limit.ParseRate(c.RateLimit); err != nil {
			p.Add("RATE_LIMIT", "%v (or empty for none)", err)
		}
	}
	if !isOff(c.SMSNumberLimit) && strings.TrimSpace(c.SMSNumberLimit) != "0" {
		if _, err := limit.ParseRate(c.SMSNumberLimit); err != nil {
			p.Add("SMS_NUMBER_LIMIT", "%v (or off)", err)
		}
	}
	for _, proxy := range c.TrustedProxies {
		if _, err := parseIPOrCIDR(proxy); err != nil {
			p.Add("TRUSTED_PROXIES", "%q is not an IP address or a CIDR such as 10.0.0.0/8", proxy)
		}
	}
	if c.AdminAddr != "" {
		p.HostPort("ADMIN_ADDR", c.AdminAddr)
	}
	return p.Err()
}

func isOff(v string) bool {
	v = strings.TrimSpace(v)
	return v == "" || strings.EqualFold(v, "off")
}

func parseIPOrCIDR(s string) (*net.IPNet, error) {
	s = strings.TrimSpace(s)
	if ip := net.ParseIP(s); ip != nil {
		bits := 128
		if ip4 := ip.To4(); ip4 != nil {
			ip, bits = ip4, 32
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(s)
	return n, err
}

// checkOrigin tells what is wrong with a CORS origin, or "" when nothing is:
// an origin is what a browser sends in Origin, scheme://host[:port], with no
// path, no trailing slash and no wildcard but a lone *.
func checkOrigin(origin string) string {
	if origin == "*" {
		return ""
	}
	u, err := url.Parse(origin)
	switch {
	case err != nil:
		return "is not a URL: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case strings.ContainsAny(u.Host, "*?"):
		return "has a wildcard; list each origin, or use * alone"
	case u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(origin, "?") || strings.HasSuffix(origin, "#"):
		return "must be scheme://host[:port] alone, with no path (not even /), query or fragment"
	case u.Port() == "" && strings.HasSuffix(u.Host, ":"):
		return "has an empty port"
	case strings.ToLower(origin) != origin:
		return "must be lower case, as browsers send it"
	}
	return ""
}
