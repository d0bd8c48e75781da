package httpapi

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// corsAllowedHeaders are the request headers the API reads, which a page on
// another origin may therefore send (each makes the browser ask first).
var corsAllowedHeaders = []string{
	echo.HeaderContentType, echo.HeaderAuthorization, "X-API-Key", IdempotencyKeyHeader, RequestIDHeader,
	"traceparent", "tracestate",
}

// corsExposedHeaders are the answer's headers a page on another origin may read.
var corsExposedHeaders = []string{
	echo.HeaderLocation, RequestIDHeader, echo.HeaderRetryAfter,
	RateLimitLimitHeader, RateLimitRemainingHeader, RateLimitResetHeader,
}

// corsMaxAge is how long, in seconds, a browser may reuse a preflight's answer.
const corsMaxAge = 600

// cors answers preflights and marks the answers a page of an allowed origin
// may read. The methods allowed are those of the route asked for (echo's
// router knows them when AllowMethods is left empty); an origin not allowed
// gets no Access-Control-Allow-Origin, so the browser keeps the answer from
// the page. No credentials: keys go in headers, never in cookies.
func (a AccessControl) cors() echo.MiddlewareFunc {
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:  a.AllowedOrigins,
		AllowHeaders:  corsAllowedHeaders,
		ExposeHeaders: corsExposedHeaders,
		MaxAge:        corsMaxAge,
	})
}
