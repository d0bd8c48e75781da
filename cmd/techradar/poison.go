package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	// Aliased: the tests of this package have a function named command.
	appcommand "github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/service"
)

// runPoison runs `techradar poison list|requeue|delete` through the poison use
// cases.
func runPoison(ctx context.Context, c cli, subcommand string, stdout io.Writer, logger *slog.Logger) error {
	// A requeue that cannot be done is refused before anything is opened, so
	// that it neither creates a store nor reports a count.
	if subcommand == "requeue" {
		if len(c.Poison.Requeue.IDs) == 0 && !c.Poison.Requeue.All {
			return errors.New("name the ids to requeue, or pass --all")
		}
		if c.Transport == config.TransportGoChannel {
			return service.ErrRequeueNeedsDurableTransport
		}
	}
	admin, err := service.OpenAdmin(ctx, c.Config, logger)
	if err != nil {
		return err
	}
	defer admin.Close()

	switch subcommand {
	case "list":
		poisoned, err := admin.App.Queries.PoisonedMessages.Handle(ctx, query.PoisonedMessages{Limit: c.Poison.List.Limit})
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tPOISONED AT\tTOPIC\tHANDLER\tREASON\tPAYLOAD")
		for _, p := range poisoned {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.PoisonedAt.Format(time.RFC3339), p.Topic, p.Handler,
				oneLine(p.Reason, 60), oneLine(string(p.Payload), 60))
		}
		return w.Flush()
	case "requeue":
		requeue := admin.App.Commands.RequeuePoisonedMessages
		if requeue == nil {
			return service.ErrRequeueNeedsDurableTransport
		}
		n, err := requeue.Handle(ctx, appcommand.RequeuePoisonedMessages{IDs: c.Poison.Requeue.IDs, All: c.Poison.Requeue.All})
		fmt.Fprintf(stdout, "requeued %d message(s)\n", n)
		return err
	case "delete":
		ids := slices.Compact(slices.Sorted(slices.Values(c.Poison.Delete.IDs)))
		if err := admin.App.Commands.DeletePoisonedMessages.Handle(ctx, appcommand.DeletePoisonedMessages{IDs: ids}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %d message(s)\n", len(ids))
		return nil
	default:
		return fmt.Errorf("unknown poison command %q", subcommand)
	}
}

// oneLine shortens s to at most n characters on one line, for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
