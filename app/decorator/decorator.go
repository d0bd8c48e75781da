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

// SubmissionHandler handles one command type and returns a result: the
// submissions the API makes (what the client is told at once) and the
// operator's commands that report what they did. It changes state, so it is
// logged as a command.
type SubmissionHandler[C any, R any] interface {
	Handle(ctx context.Context, cmd C) (R, error)
}

// QueryHandler answers one query type.
type QueryHandler[Q any, R any] interface {
	Handle(ctx context.Context, q Q) (R, error)
}

// ApplyCommandDecorators wraps handler with logging.
func ApplyCommandDecorators[C any](handler CommandHandler[C], logger *slog.Logger) CommandHandler[C] {
	return commandLoggingDecorator[C]{base: handler, logger: logger}
}

// ApplySubmissionDecorators wraps handler with logging.
func ApplySubmissionDecorators[C any, R any](handler SubmissionHandler[C, R], logger *slog.Logger) SubmissionHandler[C, R] {
	return submissionLoggingDecorator[C, R]{base: handler, logger: logger}
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
	defer func(start time.Time) { logCommand(ctx, d.logger, cmd, start, err, slog.LevelError) }(time.Now())
	return d.base.Handle(ctx, cmd)
}

type submissionLoggingDecorator[C any, R any] struct {
	base   SubmissionHandler[C, R]
	logger *slog.Logger
}

// Handle logs a submission the client got wrong at debug level: it is refused,
// not failed, and stays out of the error log.
func (d submissionLoggingDecorator[C, R]) Handle(ctx context.Context, cmd C) (result R, err error) {
	defer func(start time.Time) {
		level := slog.LevelError
		if err != nil && isClientMistake(err) {
			level = slog.LevelDebug
		}
		logCommand(ctx, d.logger, cmd, start, err, level)
	}(time.Now())
	return d.base.Handle(ctx, cmd)
}

// logCommand logs what became of cmd, started at start, once it returned err:
// a failure at failureLevel.
func logCommand(ctx context.Context, logger *slog.Logger, cmd any, start time.Time, err error, failureLevel slog.Level) {
	attrs := []any{slog.String("command", actionName(cmd)), slog.Duration("duration", time.Since(start))}
	if err == nil {
		logger.DebugContext(ctx, "command handled", attrs...)
		return
	}
	logger.Log(ctx, failureLevel, "command failed", append(attrs, slog.Any("error", err))...)
}

// isClientMistake tells the errors that are the caller's, not the service's.
func isClientMistake(err error) bool {
	code := apperr.CodeOf(err)
	return code == apperr.Invalid || code == apperr.NotFound
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
		if isClientMistake(err) {
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
