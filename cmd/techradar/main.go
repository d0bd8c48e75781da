// Command techradar runs the techradar service: the HTTP API, the message
// handlers, or both.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/mattn/go-isatty"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/correlation"
	"github.com/techradar/techradar/internal/telemetry"
	"github.com/techradar/techradar/service"
)

type cli struct {
	config.Config

	Serve  struct{} `cmd:"" default:"1" help:"Run the HTTP API and the message handlers in one process (the default), on HTTP_ADDR (default :8080)."`
	API    struct{} `cmd:"" name:"api" help:"Run the HTTP API only, on HTTP_ADDR (default :8080); commands go to the transport for workers to apply."`
	Worker struct{} `cmd:"" help:"Run the message handlers only, with /healthz, /readyz and /metrics on HTTP_ADDR (default :8081, so that an api beside it keeps :8080)."`
	Poison struct {
		List struct {
			Limit int `default:"100" help:"Most messages listed."`
		} `cmd:"" help:"List poisoned messages, oldest first."`
		Requeue struct {
			IDs []int64 `arg:"" optional:"" name:"id" help:"Ids from 'poison list'."`
			All bool    `help:"Requeue every poisoned message (at most 10,000 a run)."`
		} `cmd:"" help:"Put poisoned messages back on the topic they came from; a command goes back to pending."`
		Delete struct {
			IDs []int64 `arg:"" name:"id" help:"Ids from 'poison list'."`
		} `cmd:"" help:"Forget poisoned messages for good; their commands stay failed."`
	} `cmd:"" help:"Messages that failed for good: list them, put them back, or delete them."`
	APIKey apiKeyCommands `cmd:"" name:"apikey" help:"API keys of the HTTP API (AUTH_MODE=apikey): create, list or revoke them."`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "techradar:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c cli
	exited := false
	parser, err := kong.New(&c,
		kong.Name("techradar"),
		kong.Description("An event-driven CQRS service: REST in, commands through Watermill, a cached read model out.\n\nEvery setting is an environment variable or its flag; the flag wins."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(int) { exited = true }),
	)
	if err != nil {
		return err
	}
	kctx, err := parser.Parse(args)
	if exited {
		return nil // --help was printed
	}
	if err != nil {
		return err // kong names the flag and, for a value from the environment, its variable
	}

	command := strings.Fields(kctx.Command())
	role := config.Role(command[0])
	if command[0] == "poison" || command[0] == "apikey" {
		role = config.RoleTool
	}
	if err := c.Config.Validate(role); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	// Put back for a caller that runs more than one command in a process
	// (the tests).
	defer c.Config.Runtime.Apply()()

	logger := newLogger(c.Config, stderr)
	telemetry.LogRedisThrough(logger)
	if command[0] == "apikey" {
		return runAPIKey(ctx, c, command[1], stdout, logger)
	}
	if role == config.RoleTool {
		return runPoison(ctx, c, command[1], stdout, logger)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	svc, err := service.New(ctx, c.Config, role, logger)
	if err != nil {
		return stoppedBySignal(ctx, err, logger)
	}
	if err := svc.Start(ctx); err != nil {
		return stoppedBySignal(ctx, errors.Join(err, svc.Close()), logger)
	}

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", slog.String("reason", "signal"))
	case runErr = <-svc.Failed():
		logger.Error("shutting down", slog.Any("error", runErr))
	}
	// A shutdown cut short by a dependency that is down is logged by Close and
	// loses nothing: what was unfinished is taken up at the next start. It
	// does not fail the exit, which a signal asked for.
	_ = svc.Close()
	return runErr
}

// stoppedBySignal is nil when a signal cut the start short, as a stop that was
// asked for, and err otherwise.
func stoppedBySignal(ctx context.Context, err error, logger *slog.Logger) error {
	if ctx.Err() != nil {
		logger.Info("stopped while starting", slog.String("reason", "signal"), slog.Any("error", err))
		return nil
	}
	return err
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}

	format := cfg.Log.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	var handler slog.Handler = slog.NewJSONHandler(w, opts)
	if format == "text" {
		handler = slog.NewTextHandler(w, opts)
	}
	return slog.New(correlation.NewLogHandler(handler))
}
