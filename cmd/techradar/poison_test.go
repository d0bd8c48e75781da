package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// On the in-process transport the queue a requeue would publish to lives inside
// the running service, out of reach of this command: it must refuse with the
// reason only, create no store and print no count.
func TestPoisonRequeueRefusesTheInProcessTransport(t *testing.T) {
	t.Parallel()
	for _, args := range []string{"poison requeue --all", "poison requeue 1 2"} {
		dbPath := filepath.Join(t.TempDir(), "techradar.db")
		cmd := command(t, args, "TRANSPORT=gochannel", "STORE=sqlite", "SQLITE_PATH="+dbPath)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
			t.Fatalf("%s: want exit status 1, got %v\nstderr: %s", args, err, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: printed %q; a refused requeue must report no count", args, stdout.String())
		}
		if !strings.Contains(stderr.String(), "requeue needs a durable transport") {
			t.Errorf("%s: the message does not say why:\n%s", args, stderr.String())
		}
		if _, err := os.Stat(dbPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the store was opened (%s: %v)", args, dbPath, err)
		}
	}
}
