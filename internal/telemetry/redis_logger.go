package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

var redisLoggerOnce sync.Once

// LogRedisThrough sends the go-redis client's own log lines (failed dials,
// connection pool trouble) to logger, instead of straight to stderr where no
// log collector parses them. go-redis keeps one logger per process, so only
// the first call has an effect: call it once, from the command.
func LogRedisThrough(logger *slog.Logger) {
	redisLoggerOnce.Do(func() {
		redis.SetLogger(redisLogger{logger.With(slog.String("component", "redis"))})
	})
}

// redisLogger adapts slog to go-redis's Printf logger. go-redis logs only
// what went wrong, so every line is a warning.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	l.logger.WarnContext(ctx, fmt.Sprintf(format, v...))
}
