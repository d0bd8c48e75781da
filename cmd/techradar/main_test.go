package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/techradar/techradar/config"
)

// TestMain lets the tests run this binary as the real command: a child started
// with TECHRADAR_RUN_MAIN=1 runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("TECHRADAR_RUN_MAIN") == "1" {
		os.Args = append([]string{"techradar"}, strings.Fields(os.Getenv("TECHRADAR_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func command(t *testing.T, args string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"TECHRADAR_RUN_MAIN=1", "TECHRADAR_ARGS=" + args}, env...)...)
	return cmd
}

func TestHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	out, err := command(t, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, want := range []string{"serve", "api", "worker"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help does not list the %s command", want)
		}
	}
	// Each role's default address, which differs so that an api and a worker
	// run side by side.
	for _, want := range []string{"default :8080", "default :8081"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help does not say %q", want)
		}
	}
	for _, env := range envNames(reflect.TypeFor[config.Config](), "") {
		if !strings.Contains(string(out), "$"+env) {
			t.Errorf("--help does not list %s", env)
		}
	}
}

// envNames are the variables of the settings in t, a group of settings whose
// variables start with prefix: its own, and those of the groups it embeds.
func envNames(t reflect.Type, prefix string) []string {
	var names []string
	for i := range t.NumField() {
		field := t.Field(i)
		if _, embedded := field.Tag.Lookup("embed"); embedded {
			names = append(names, envNames(field.Type, prefix+field.Tag.Get("envprefix"))...)
		} else if env := field.Tag.Get("env"); env != "" {
			names = append(names, prefix+env)
		}
	}
	return names
}

func TestBadConfigurationStopsWithTheVariableNamed(t *testing.T) {
	t.Parallel()
	tests := []struct{ env, want string }{
		{"TRANSPORT=carrier-pigeon", "TRANSPORT"},
		{"PRIORITY_HIGH_AT=lots", "PRIORITY_HIGH_AT"},
		{"CACHE_TTL=forever", "CACHE_TTL"},
	}
	for _, tt := range tests {
		out, err := command(t, "", tt.env).CombinedOutput()
		if err == nil {
			t.Fatalf("%s: the command started", tt.env)
		}
		if !strings.Contains(string(out), tt.want) {
			t.Fatalf("%s: the message does not name %s:\n%s", tt.env, tt.want, out)
		}
	}
	out, err := command(t, "api").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "gochannel") {
		t.Fatalf("api on the in-process transport: %v\n%s", err, out)
	}
}

func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	dbPath := filepath.Join(t.TempDir(), "techradar.db")
	var logs bytes.Buffer
	cmd := command(t, "", "HTTP_ADDR="+addr, "SQLITE_PATH="+dbPath, "LOG_FORMAT=json")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service never answered: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// In embedded mode a POST is answered once its command is applied, so what
	// was accepted before SIGTERM is in the file when the process is gone.
	for range 5 {
		resp, err := http.Post(base+"/api/techs", "application/json", strings.NewReader(`{"name": "Signals"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
	}

	exited, err, _ := stopBySIGTERM(t, cmd, 30*time.Second)
	if !exited {
		t.Fatalf("still running 30 s after SIGTERM\n%s", logs.String())
	}
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "techradar stopped") {
		t.Fatalf("no clean stop logged:\n%s", logs.String())
	}

	// The data is there for the next start.
	restarted := command(t, "", "HTTP_ADDR="+addr, "SQLITE_PATH="+dbPath)
	if err := restarted.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restarted.Process.Kill(); _ = restarted.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/techs", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if !strings.Contains(buf.String(), `"mentions":5`) {
				t.Fatalf("after a restart the list is %s", buf.String())
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the restarted service never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = restarted.Process.Signal(syscall.SIGTERM)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
