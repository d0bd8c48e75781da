// Package decorator wraps use-case handlers with the cross-cutting concerns every
// one of them needs (logging now; metrics and tracing plug in here), so that the
// handlers themselves stay plain.
package decorator

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/techradar/techradar/app/apperr"
)

// CommandHandler handles one command type. It returns no result: the effect is
// observed through queries and events.
type CommandHandler[C any] interface {
	Handle(ctx context.Context, cmd C) error
}

// QueryHandler answers one query type.
type QueryHandler[Q any, R any] interface {
	Handle(ctx context.Context, q Q) (R, error)
}

// ApplyCommandDecorators wraps handler with logging.
func ApplyCommandDecorators[C any](handler CommandHandler[C], logger *slog.Logger) CommandHandler[C] {
	return commandLoggingDecorator[C]{base: handler, logger: logger}
}

// ApplyQueryDecorators wraps handler with logging.
func ApplyQueryDecorators[Q any, R any](handler QueryHandler[Q, R], logger *slog.Logger) QueryHandler[Q, R] {
	return queryLoggingDecorator[Q, R]{base: handler, logger: logger}
}

type commandLoggingDecorator[C any] struct {
	base   CommandHandler[C]
	logger *slog.Logger
}

func (d commandLoggingDecorator[C]) Handle(ctx context.Context, cmd C) (err error) {
	start := time.Now()
	defer func() {
		attrs := []any{slog.String("command", actionName(cmd)), slog.Duration("duration", time.Since(start))}
		if err != nil {
			d.logger.ErrorContext(ctx, "command failed", append(attrs, slog.Any("error", err))...)
			return
		}
		d.logger.DebugContext(ctx, "command handled", attrs...)
	}()
	return d.base.Handle(ctx, cmd)
}

type queryLoggingDecorator[Q any, R any] struct {
	base   QueryHandler[Q, R]
	logger *slog.Logger
}

func (d queryLoggingDecorator[Q, R]) Handle(ctx context.Context, q Q) (result R, err error) {
	start := time.Now()
	defer func() {
		if err == nil {
			return
		}
		// A client's mistake is not the service's failure: keep it out of the error log.
		level := slog.LevelError
		if code := apperr.CodeOf(err); code == apperr.Invalid || code == apperr.NotFound {
			level = slog.LevelDebug
		}
		d.logger.Log(ctx, level, "query failed", slog.String("query", actionName(q)), slog.Duration("duration", time.Since(start)), slog.Any("error", err))
	}()
	return d.base.Handle(ctx, q)
}

// actionName is the command's or query's type name without its package.
func actionName(v any) string {
	name := fmt.Sprintf("%T", v)
	return name[strings.LastIndexByte(name, '.')+1:]
}
