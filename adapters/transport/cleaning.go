package transport

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/internal/periodic"
)

// RunCleaning cleans m every interval until ctx is done: each round's report
// goes to cleaned, if set, the rounds that removed something are logged, and
// each entry a cap dropped unread is an error, for those are lost messages.
func RunCleaning(ctx context.Context, m Maintainer, interval time.Duration, cleaned func(CleanReport), logger *slog.Logger) error {
	periodic.Run(ctx, interval, func(ctx context.Context) error {
		return CleanRound(ctx, m, cleaned, logger)
	}, func(err error) {
		logger.WarnContext(ctx, "transport cleaning round failed", slog.Any("error", err))
	})
	return nil
}

// CleanRound is one round of RunCleaning.
func CleanRound(ctx context.Context, m Maintainer, cleaned func(CleanReport), logger *slog.Logger) error {
	report, err := m.Clean(ctx)
	if cleaned != nil {
		cleaned(report)
	}
	if removed := report.total(); removed > 0 {
		logger.InfoContext(ctx, "transport cleaning removed handled messages", slog.Int64("messages", removed), slog.Int("topics", len(report.Removed)))
	}
	for topic, n := range report.Dropped {
		logger.ErrorContext(ctx, "REDISSTREAM_MAX_LEN dropped entries a consumer group had not read: those messages are lost",
			slog.String("topic", topic), slog.Int64("entries", n))
	}
	return err
}

// total is how many messages the round removed, over every topic.
func (r CleanReport) total() int64 {
	var n int64
	for _, removed := range r.Removed {
		n += removed
	}
	return n
}
