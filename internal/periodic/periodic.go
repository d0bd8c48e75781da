// Package periodic runs the rounds of the workers' maintenance: every
// interval, starting at a random point of the first one, so that processes
// started together do not all run at once.
package periodic

import (
	"context"
	"math/rand/v2"
	"time"
)

// Run runs round every interval until ctx is done. A round that fails is
// handed to failed (when ctx is not done); the next one tries again.
func Run(ctx context.Context, interval time.Duration, round func(ctx context.Context) error, failed func(error)) {
	timer := time.NewTimer(rand.N(interval)) // #nosec G404 -- a jitter that spreads processes' rounds, no secret
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if err := round(ctx); err != nil && ctx.Err() == nil {
			failed(err)
		}
		timer.Reset(interval)
	}
}

// Sleep waits d, or less if ctx ends first; it reports whether d went by.
// Loops that back off or pause between rounds wait with it, so that a
// shutdown never waits out a pause.
func Sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
