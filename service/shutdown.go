package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// closersReserve is the part of the shutdown's time kept for closing the
// transport, the clients and the store once the handlers have had theirs: at most a second,
// and a fifth of HANDLER_CLOSE_TIMEOUT when that is short.
func closersReserve(handlerClose time.Duration) time.Duration {
	return min(time.Second, handlerClose/5)
}

// finishBy runs stop and waits for it until deadline. A stop that is not done
// by then goes on in the background and is reported as cut short: a
// dependency that hangs must not hold the process, and what it leaves
// unfinished (an outbox row, an unacknowledged message, a pending command) is
// durable and taken up at the next start.
func (s *Service) finishBy(deadline time.Time, what string, stop func() error) error {
	done := make(chan error, 1)
	go func() { done <- stop() }()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-timer.C:
		s.logger.Warn("shutdown cut short", slog.String("step", what), slog.Time("deadline", deadline))
		return fmt.Errorf("%s: not done by the shutdown deadline", what)
	}
}

// stopHTTP stops accepting requests and waits HTTP_SHUTDOWN_TIMEOUT for those
// in flight; past it, their connections are closed.
func (s *Service) stopHTTP() error {
	if s.listener == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err == nil {
		return nil
	}
	s.logger.Warn("shutdown cut short", slog.String("step", "HTTP requests in flight"), slog.Any("error", err))
	return errors.Join(fmt.Errorf("HTTP shutdown: %w", err), s.http.Close())
}

// runningWorkers tracks the background workers that have not returned yet,
// so that a shutdown can name those it stopped waiting for.
type runningWorkers struct {
	mu      sync.Mutex
	running map[string]int
	done    sync.WaitGroup
}

func (w *runningWorkers) start(name string, run func()) {
	w.mu.Lock()
	if w.running == nil {
		w.running = map[string]int{}
	}
	w.running[name]++
	w.mu.Unlock()
	w.done.Go(func() {
		defer func() {
			w.mu.Lock()
			w.running[name]--
			w.mu.Unlock()
		}()
		run()
	})
}

func (w *runningWorkers) wait() error {
	w.done.Wait()
	return nil
}

// names lists the workers still running.
func (w *runningWorkers) names() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
	for name, n := range w.running {
		if n > 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// stopHandlers stops the background workers, the router by routerDeadline,
// and the transport by deadline.
//
// The workers' context is cancelled first: from then on a publish that
// closing the transport releases (a GoChannel publish waiting for an ack
// that a failing handler never gives returns then, as if delivered) leads to
// no delete of its outbox row; the outbox relay deletes only the rows of
// events published before. So the router and the transport may close while
// a worker is still stuck in a publish, and the workers are waited for last.
func (s *Service) stopHandlers(routerDeadline, deadline time.Time) error {
	var errs []error
	if s.cancelWorkers != nil {
		s.cancelWorkers()
	}
	if s.router != nil {
		errs = append(errs, s.finishBy(routerDeadline, "closing the message router", s.router.Close))
	}
	errs = append(errs, s.finishBy(deadline, "closing the transport", s.closeTransport))
	if err := s.finishBy(deadline, "stopping the background workers", s.workersRunning.wait); err != nil {
		s.logger.Warn("background workers still running", slog.String("workers", s.workersRunning.names()))
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// closeTransport closes the transport once, after the commands still being
// published on it; the closers call it again when New fails before Start.
func (s *Service) closeTransport() error {
	var errs []error
	s.transportClose.Do(func() {
		if s.commandPublisher != nil {
			errs = append(errs, s.commandPublisher.Close())
		}
		if s.transport != nil {
			errs = append(errs, s.transport.Close())
		}
	})
	return errors.Join(errs...)
}
