package messaging

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// NewLogger is Watermill's slog adapter, but a debug or trace line
// whose level is off costs nothing: the libraries log several on every message,
// and the adapter would turn their fields into attributes before slog drops
// them.
func NewLogger(logger *slog.Logger) watermill.LoggerAdapter {
	return leveledWatermillLogger{LoggerAdapter: watermill.NewSlogLogger(logger), logger: logger}
}

type leveledWatermillLogger struct {
	watermill.LoggerAdapter
	logger *slog.Logger
}

func (l leveledWatermillLogger) Debug(msg string, fields watermill.LogFields) {
	if l.logger.Enabled(context.Background(), slog.LevelDebug) {
		l.LoggerAdapter.Debug(msg, fields)
	}
}

func (l leveledWatermillLogger) Trace(msg string, fields watermill.LogFields) {
	if l.logger.Enabled(context.Background(), watermill.LevelTrace) {
		l.LoggerAdapter.Trace(msg, fields)
	}
}

func (l leveledWatermillLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return leveledWatermillLogger{LoggerAdapter: l.LoggerAdapter.With(fields), logger: l.logger}
}
