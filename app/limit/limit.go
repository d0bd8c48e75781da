// Package limit is the port of the rate limiters: a rate, what a limiter
// decides for one event, and the interface the HTTP port asks. The adapters
// (adapters/ratelimit) keep the counts, in the process or in Redis.
package limit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is at most Count events per Period, with bursts of up to Count: the
// generic cell rate algorithm (a token bucket) every limiter applies, so a
// client that waited a whole Period has its whole budget back, and one that
// spent it gets one event back every Period/Count.
type Rate struct {
	Count  int
	Period time.Duration
}

// IsZero reports whether r limits nothing.
func (r Rate) IsZero() bool { return r.Count == 0 }

// String writes r as ParseRate reads it.
func (r Rate) String() string {
	if r.IsZero() {
		return "off"
	}
	return strconv.Itoa(r.Count) + "/" + r.Period.String()
}

// Resolution is the shortest interval between two events a limiter tells
// apart: Redis's clock counts microseconds, and a rate whose Period/Count is
// shorter would round to no interval at all, that is to no limit.
const Resolution = time.Microsecond

// ParseRate reads "<n>/<duration>", such as "100/1s" or "10/1h": n at least
// 1, the duration positive, as time.ParseDuration reads it (a bare unit, as in
// "10/h", is taken as one of it), and the duration over n at least Resolution.
func ParseRate(s string) (Rate, error) {
	count, period, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q is not <n>/<duration>, such as 100/1s", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 {
		return Rate{}, fmt.Errorf("%q: the count must be a whole number of at least 1", s)
	}
	period = strings.TrimSpace(period)
	if period != "" && strings.Trim(period, "hmsuµn") == "" {
		period = "1" + period
	}
	d, err := time.ParseDuration(period)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("%q: the period must be a positive duration, such as 1s, 1m or 1h", s)
	}
	if d/time.Duration(n) < Resolution {
		return Rate{}, fmt.Errorf("%q: %d events per %s is finer than the limiters can count (one event per %s at most)", s, n, d, Resolution)
	}
	return Rate{Count: n, Period: d}, nil
}

// Decision is what a limiter decided for one event.
type Decision struct {
	Allowed bool
	// Limit is the rate's Count: the most events a burst may have.
	Limit int
	// Remaining is how many more events would be allowed at once now.
	Remaining int
	// RetryAfter is how long until one more event is allowed; zero when
	// this one was.
	RetryAfter time.Duration
	// ResetAfter is how long until the whole budget is back.
	ResetAfter time.Duration
}

// Limiter counts events per key against one Rate. The key names who or what
// is limited (a client, a phone number); the limiter keeps the keys of every
// kind apart only if its callers prefix them.
type Limiter interface {
	// Take counts one event for key if the rate allows it, and tells whether
	// it did. An error means the limiter could not decide (its store is
	// down); the event was not counted.
	Take(ctx context.Context, key string) (Decision, error)
}
