package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/techradar/techradar/domain/access"
)

// TestAPIKeyCommands creates, lists and revokes keys with the real command
// line on a SQLite file, as an operator would on the service's store.
func TestAPIKeyCommands(t *testing.T) {
	t.Parallel()
	store := "--sqlite-path=" + filepath.Join(t.TempDir(), "techradar.db")
	apikey := func(args ...string) (string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append(append([]string{"apikey"}, args...), store, "--log-level=error"), &stdout, &stderr)
		return stdout.String(), err
	}

	out, err := apikey("create", "--name", "ci-bot", "--scopes", "techs:read,techs:write")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	key := lines[len(lines)-1]
	if !access.LooksLikeAPIKey(key) {
		t.Fatalf("the last line of create is not the key alone: %q", out)
	}
	if strings.Count(out, key) != 1 {
		t.Fatalf("the key is printed more than once: %q", out)
	}

	if out, err := apikey("create", "--name", "ci-bot", "--scopes", "admin"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("a second key of one name: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"create", "--name", "ci bot", "--scopes", "admin"},
		{"create", "--name", strings.Repeat("x", 65), "--scopes", "admin"},
		{"create", "--name", "ok", "--scopes", "techs:delete"},
		{"create", "--name", "ok", "--scopes", ""},
	} {
		if out, err := apikey(bad...); err == nil {
			t.Errorf("%q was accepted:\n%s", bad, out)
		}
	}

	out, err = apikey("list")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "ci-bot") || !strings.Contains(out, "techs:read,techs:write") || strings.Contains(out, key) {
		t.Fatalf("list:\n%s", out)
	}

	if out, err := apikey("revoke", "ci-bot"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err := apikey("revoke", "nobody"); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("revoking an unknown key: %v", err)
	}
	out, _ = apikey("list")
	row := out[strings.Index(out, "ci-bot"):]
	if fields := strings.Fields(row); len(fields) < 5 || fields[4] == "-" {
		t.Fatalf("the revoked key is not shown revoked:\n%s", out)
	}
}

// TestAPIKeyCommandsWithTheBrokerDown manages keys while the configured
// broker cannot be reached: revoking a leaked key must not wait for it.
func TestAPIKeyCommandsWithTheBrokerDown(t *testing.T) {
	t.Parallel()
	args := []string{
		"--sqlite-path=" + filepath.Join(t.TempDir(), "techradar.db"),
		"--transport=kafka", "--kafka-brokers=127.0.0.1:1", "--log-level=error",
	}
	for _, command := range [][]string{
		{"apikey", "create", "--name", "leaked", "--scopes", "techs:read"},
		{"apikey", "revoke", "leaked"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append(command, args...), &stdout, &stderr); err != nil {
			t.Fatalf("%v with Kafka down: %v\n%s", command, err, stderr.String())
		}
	}
}
