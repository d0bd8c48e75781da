package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	appcommand "github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/access"
	"github.com/techradar/techradar/service"
)

// apiKeyCommands are `techradar apikey create|list|revoke`.
type apiKeyCommands struct {
	Create struct {
		Name   string `required:"" help:"The key's name: 1 to 64 letters, digits, '.', '_' or '-'; unique, shown in logs and lists."`
		Scopes string `required:"" help:"Comma-separated scopes: techs:read, techs:write, sms:send, sms:read, admin."`
	} `cmd:"" help:"Make a new API key; it is printed once, alone on the last line."`
	List struct {
		Limit int `default:"1000" help:"Most keys listed."`
	} `cmd:"" help:"List the API keys: names, scopes, when made, last used (to the minute) and revoked; never the keys."`
	Revoke struct {
		Name string `arg:"" help:"The key's name, from 'apikey list'."`
	} `cmd:"" help:"Revoke an API key for good; every process refuses it within 5 seconds."`
}

// runAPIKey runs `techradar apikey create|list|revoke` through the key use
// cases, on the store the configuration names: the running service's.
func runAPIKey(ctx context.Context, c cli, subcommand string, stdout io.Writer, logger *slog.Logger) error {
	admin, err := service.OpenKeyAdmin(ctx, c.Config, logger)
	if err != nil {
		return err
	}
	defer admin.Close()

	switch subcommand {
	case "create":
		scopes, err := access.ParseScopes(c.APIKey.Create.Scopes)
		if err != nil {
			return fmt.Errorf("--scopes: %w", err)
		}
		created, err := admin.App.Commands.CreateAPIKey.Handle(ctx, appcommand.CreateAPIKey{Name: c.APIKey.Create.Name, Scopes: scopes})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created API key %q with scopes %s\n", created.Name, access.JoinScopes(created.Scopes))
		fmt.Fprintln(stdout, "the key is shown this once, keep it now (send it as Authorization: Bearer <key>):")
		// Alone on the last line, so that a script can take it with tail -n 1.
		fmt.Fprintln(stdout, created.Key)
		return nil
	case "list":
		keys, err := admin.App.Queries.APIKeys.Handle(ctx, query.APIKeys{Limit: c.APIKey.List.Limit})
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.Name, access.JoinScopes(k.Scopes), timeCell(k.CreatedAt), timeCell(k.LastUsedAt), timeCell(k.RevokedAt))
		}
		return w.Flush()
	case "revoke":
		if err := admin.App.Commands.RevokeAPIKey.Handle(ctx, appcommand.RevokeAPIKey{Name: c.APIKey.Revoke.Name}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked API key %q; every process refuses it within 5 seconds\n", c.APIKey.Revoke.Name)
		return nil
	default:
		return fmt.Errorf("unknown apikey command %q", subcommand)
	}
}

// timeCell is t for a table, "-" when it never happened.
func timeCell(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}
