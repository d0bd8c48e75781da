package messaging

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/internal/growstack"
)

// errShuttingDown refuses a message that reaches a handler once shutdown has
// begun; it wraps context.Canceled, so the message goes back to the transport
// rather than to the poison topic.
var errShuttingDown = fmt.Errorf("shutting down: %w", context.Canceled)

// inFlightHandlers counts the handlers running, so that a shutdown closes the
// store and the publishers only once none is. The router's own wait can end
// while a message that arrived late is still being handled.
type inFlightHandlers struct {
	mu      sync.Mutex
	running int
	closing bool
	idle    chan struct{} // closed when closing and nothing runs
}

func newInFlightHandlers() *inFlightHandlers {
	return &inFlightHandlers{idle: make(chan struct{})}
}

func (f *inFlightHandlers) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		// The router starts a goroutine for each message, and what it runs
		// goes deep: grow its stack once, while it is shallow.
		growstack.Grow()
		f.mu.Lock()
		if f.closing {
			f.mu.Unlock()
			return nil, errShuttingDown
		}
		f.running++
		f.mu.Unlock()

		defer func() {
			f.mu.Lock()
			f.running--
			if f.closing && f.running == 0 {
				close(f.idle)
			}
			f.mu.Unlock()
		}()
		return h(msg)
	}
}

// closeAndWait refuses new messages and waits, up to timeout, for the handlers
// running to finish. It reports whether they did.
func (f *inFlightHandlers) closeAndWait(timeout time.Duration) bool {
	f.mu.Lock()
	if !f.closing {
		f.closing = true
		if f.running == 0 {
			close(f.idle)
		}
	}
	f.mu.Unlock()
	select {
	case <-f.idle: // checked first: the timeout may be spent already
		return true
	default:
	}
	select {
	case <-f.idle:
		return true
	case <-time.After(timeout):
		return false
	}
}
