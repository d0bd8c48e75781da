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
