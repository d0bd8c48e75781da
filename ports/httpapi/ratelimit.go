package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/limit"
	"github.com/techradar/techradar/domain/access"
	"github.com/techradar/techradar/domain/sms"
)

// The rate limit headers of draft-ietf-httpapi-ratelimit-headers: the burst,
// what is left of it, and the seconds until it is whole again.
const (
	RateLimitLimitHeader     = "RateLimit-Limit"
	RateLimitRemainingHeader = "RateLimit-Remaining"
	RateLimitResetHeader     = "RateLimit-Reset"
)

const (
	// LimiterTimeout bounds the wait for a limiter: one whose store hangs
	// hands the request to the fallback (or lets it through) after it rather
	// than hold it. A shared limiter's client should time out no later.
	LimiterTimeout = 250 * time.Millisecond
	// limiterWarnEvery spaces the warnings of a limiter that cannot decide,
	// which would otherwise come with every request.
	limiterWarnEvery = 10 * time.Second
)

// unlimitedPaths are the routes no rate limit counts: the orchestrator's
// probes must answer however busy the clients are.
var unlimitedPaths = map[string]bool{"/healthz": true, "/readyz": true}

// limitedError is a request over a limit, found in a use case's wrapper; the
// rate limit middleware answers it.
type limitedError struct {
	decision limit.Decision
	field    string
	message  string
}

func (e *limitedError) Error() string { return e.message }

// limiterGuard asks a limiter within LimiterTimeout and, when it cannot
// decide (its Redis is down or hung), asks the process's own fallback
// limiter instead, warning at most once every limiterWarnEvery: the limits
// protect the API, and a Redis that is down must neither take the API down
// nor lift the limits. Without a fallback the request goes through.
type limiterGuard struct {
	limiter  limit.Limiter
	fallback limit.Limiter
	what     string
	logger   *slog.Logger
	lastWarn atomic.Int64
}

func newLimiterGuard(l, fallback limit.Limiter, what string, logger *slog.Logger) *limiterGuard {
	if l == nil {
		return nil
	}
	return &limiterGuard{limiter: l, fallback: fallback, what: what, logger: logger}
}

// take counts one event for key; decided is false when no limiter could.
func (g *limiterGuard) take(ctx context.Context, key string) (decision limit.Decision, decided bool) {
	waitCtx, cancel := context.WithTimeout(ctx, LimiterTimeout)
	defer cancel()
	decision, err := g.limiter.Take(waitCtx, key)
	if err == nil {
		return decision, true
	}
	if g.fallback != nil {
		decision, fallbackErr := g.fallback.Take(ctx, key)
		g.warn(ctx, "rate limit counted in this process meanwhile: the shared limiter did not answer", err)
		return decision, fallbackErr == nil
	}
	g.warn(ctx, "rate limit not applied: the limiter did not answer; letting requests through", err)
	return limit.Decision{}, false
}

func (g *limiterGuard) warn(ctx context.Context, message string, err error) {
	now := time.Now().UnixNano()
	last := g.lastWarn.Load()
	if now-last >= int64(limiterWarnEvery) && g.lastWarn.CompareAndSwap(last, now) {
		g.logger.WarnContext(ctx, message, slog.String("limit", g.what), slog.Any("error", err))
	}
}

// requestLimits is RATE_LIMIT in the HTTP port: the middleware counting every
// request, and the one counting the requests authentication refused.
type requestLimits struct {
	guard *limiterGuard
}

func (a AccessControl) requestLimits(logger *slog.Logger) requestLimits {
	return requestLimits{guard: newLimiterGuard(a.Requests, a.RequestsFallback, "RATE_LIMIT", logger)}
}

// middleware counts each request against the budget of its API key (the
// principal authentication put in the context) or, without one, of its
// client address, answering 429 past it and the RateLimit headers on every
// answer it counted. It also answers the limits use cases found
// (limitedError), such as SMS_NUMBER_LIMIT's.
func (l requestLimits) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if l.guard != nil && !unlimitedPaths[c.Path()] {
			decision, decided := l.guard.take(c.Request().Context(), clientKey(c))
			if decided {
				setRateLimitHeaders(c, decision)
				if !decision.Allowed {
					return tooManyRequests(c, decision, "", "too many requests")
				}
			}
		}
		err := next(c)
		var limited *limitedError
		if errors.As(err, &limited) {
			setRateLimitHeaders(c, limited.decision)
			return tooManyRequests(c, limited.decision, limited.field, limited.message)
		}
		return err
	}
}

// countRefused goes before authentication: a request it refuses (401) never
// reaches middleware, so it is counted here, against its client address's
// budget, and answered 429 once that is spent. Without it a client could try
// keys without end, each try costing a look-up.
func (l requestLimits) countRefused(next echo.HandlerFunc) echo.HandlerFunc {
	if l.guard == nil {
		return next
	}
	return func(c echo.Context) error {
		err := next(c)
		var refused *requestError
		if !errors.As(err, &refused) || refused.status != http.StatusUnauthorized {
			return err
		}
		decision, decided := l.guard.take(c.Request().Context(), clientKey(c))
		if !decided {
			return err
		}
		setRateLimitHeaders(c, decision)
		if !decision.Allowed {
			c.Response().Header().Del(echo.HeaderWWWAuthenticate)
			return tooManyRequests(c, decision, "", "too many requests")
		}
		return err
	}
}

// clientKey names whose budget a request spends: its API key's, else its
// client address's (as TRUSTED_PROXIES lets c.RealIP find it). An IPv6 client
// is its /64, the block one host or site is given: counted per address, it
// could take a fresh budget with every request.
func clientKey(c echo.Context) string {
	if principal, ok := access.PrincipalFrom(c.Request().Context()); ok {
		return "key:" + principal.KeyName
	}
	addr := c.RealIP()
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		return "addr:" + ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return "addr:" + addr
}

func setRateLimitHeaders(c echo.Context, d limit.Decision) {
	h := c.Response().Header()
	h.Set(RateLimitLimitHeader, strconv.Itoa(d.Limit))
	h.Set(RateLimitRemainingHeader, strconv.Itoa(d.Remaining))
	h.Set(RateLimitResetHeader, strconv.Itoa(ceilSeconds(d.ResetAfter)))
}

func tooManyRequests(c echo.Context, d limit.Decision, field, message string) error {
	retryAfter := max(1, ceilSeconds(d.RetryAfter))
	c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(retryAfter))
	return &requestError{
		status:  http.StatusTooManyRequests,
		code:    "rate_limited",
		field:   field,
		message: message + "; retry after " + strconv.Itoa(retryAfter) + "s",
	}
}

// ceilSeconds rounds up, so that a client waiting that long is not refused again.
func ceilSeconds(d time.Duration) int {
	return int(math.Ceil(max(0, d).Seconds()))
}

// limitSMSPerNumber makes application's SMS submissions count against the
// destination number's budget, whoever asks: by the number in E.164, so that
// two spellings of one number share it. A request whose number or text is
// invalid goes through uncounted, to be refused by the use case.
func (a AccessControl) limitSMSPerNumber(application app.Application, logger *slog.Logger) app.Application {
	if a.SMSPerNumber == nil || application.Commands.SubmitSendSMS == nil {
		return application
	}
	application.Commands.SubmitSendSMS = smsPerNumberLimit{
		next:  application.Commands.SubmitSendSMS,
		guard: newLimiterGuard(a.SMSPerNumber, a.SMSPerNumberFallback, "SMS_NUMBER_LIMIT", logger),
	}
	return application
}

type smsPerNumberLimit struct {
	next  command.SubmitSendSMSHandler
	guard *limiterGuard
}

func (l smsPerNumberLimit) Handle(ctx context.Context, req command.SubmitSendSMS) (command.SMSSubmission, error) {
	number, numberErr := sms.ParseNumber(req.Number)
	_, textErr := sms.ParseText(req.Text)
	if numberErr == nil && textErr == nil {
		decision, decided := l.guard.take(ctx, number.String())
		if decided && !decision.Allowed {
			return command.SMSSubmission{}, &limitedError{decision: decision, field: "number", message: "too many SMS to this number"}
		}
	}
	return l.next.Handle(ctx, req)
}
