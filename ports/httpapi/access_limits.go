package httpapi

import (
	"net"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app/limit"
)

// AccessControl is what the API lets browsers and clients do, and how often.
// Its zero value lets any origin call the API, limits nothing and takes the
// client's address from the connection.
type AccessControl struct {
	// AllowedOrigins are the origins whose pages may call the API, or "*"
	// for any; empty is "*".
	AllowedOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []*net.IPNet
	// Requests limits the requests of each API key, or of each client
	// address for the requests without one; nil limits nothing.
	Requests limit.Limiter
	// SMSPerNumber limits the SMS sent to each destination number, whoever
	// asks; nil limits nothing.
	SMSPerNumber limit.Limiter
	// RequestsFallback and SMSPerNumberFallback count, in this process, while
	// Requests and SMSPerNumber cannot decide (their Redis is down); nil lets
	// the requests through meanwhile.
	RequestsFallback, SMSPerNumberFallback limit.Limiter
}

// WithAccessControl sets CORS, the rate limits and the trusted proxies.
func WithAccessControl(a AccessControl) HTTPOption {
	return func(o *httpOptions) { o.access = a }
}

// ipExtractor is how c.RealIP() finds the client: from X-Forwarded-For only
// when the peer is a trusted proxy (then the nearest address no trusted proxy
// added), else the peer's own address. Loopback and private networks are not
// trusted unless listed: echo would trust them by default, and on a host where
// clients come from a private network any of them could then name itself
// anyone.
func (a AccessControl) ipExtractor() echo.IPExtractor {
	if len(a.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	options := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, proxies := range a.TrustedProxies {
		options = append(options, echo.TrustIPRange(proxies))
	}
	return echo.ExtractIPFromXFFHeader(options...)
}
