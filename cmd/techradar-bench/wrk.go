package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The closed-loop HTTP loads run in wrk, a process of its own written in C,
// so that the load generator's cost is not the service's and can be read
// apart from it.

var (
	//go:embed wrk/report.lua
	wrkReportScript string
	//go:embed wrk/post.lua
	wrkPostScript string
)

// wrkMarker starts the line report.lua prints.
const wrkMarker = "WRK_JSON "

// wrkRun is what one wrk run measured, as report.lua prints it, and the CPU
// wrk itself used.
type wrkRun struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Bytes      int64 `json:"bytes"`
	Errors     struct {
		Connect int64 `json:"connect"`
		Read    int64 `json:"read"`
		Write   int64 `json:"write"`
		Status  int64 `json:"status"`
		Timeout int64 `json:"timeout"`
	} `json:"errors"`
	LatencyUS struct {
		P50 int64 `json:"p50"`
		P99 int64 `json:"p99"`
		Max int64 `json:"max"`
	} `json:"latency_us"`
	cpu float64 // seconds, user and system, of the wrk process
}

// successes are the answers of status below 400 (wrk counts the others as
// status errors).
func (r wrkRun) successes() int64 { return r.Requests - r.Errors.Status }

func (r wrkRun) seconds() float64 { return float64(r.DurationUS) / 1e6 }

func (r wrkRun) rate() float64 {
	if r.DurationUS == 0 {
		return 0
	}
	return float64(r.successes()) / r.seconds()
}

func (r wrkRun) p50() time.Duration { return time.Duration(r.LatencyUS.P50) * time.Microsecond }
func (r wrkRun) p99() time.Duration { return time.Duration(r.LatencyUS.P99) * time.Microsecond }

// socketErrors is every request that got no answer.
func (r wrkRun) socketErrors() int64 {
	return r.Errors.Connect + r.Errors.Read + r.Errors.Write + r.Errors.Timeout
}

// wrk runs the wrk binary of the bench.
type wrk struct {
	binary  string
	threads int
	scripts string // directory of the scripts written out
}

// newWrk finds wrk (installing Debian's package when the bench runs as root
// and it is missing) and writes the scripts into dir.
func newWrk(binary string, threads int, dir string) (*wrk, error) {
	path, err := findWrk(binary)
	if err != nil {
		return nil, err
	}
	w := &wrk{binary: path, threads: threads, scripts: dir}
	for name, script := range map[string]string{
		"get.lua":  wrkReportScript,
		"post.lua": wrkPostScript + "\n" + wrkReportScript,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o644); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func findWrk(binary string) (string, error) {
	if path, err := exec.LookPath(binary); err == nil {
		return path, nil
	}
	howTo := "install it (Debian: apt-get install wrk) or give its path with -wrk"
	if binary != "wrk" {
		return "", fmt.Errorf("wrk not found at %s: %s", binary, howTo)
	}
	if os.Getenv("CI") != "" {
		return "", fmt.Errorf("wrk not found on PATH, and the bench installs nothing under CI: %s", howTo)
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("wrk not found on PATH and the bench is not root to install it: %s", howTo)
	}
	fmt.Fprintln(os.Stderr, "== installing wrk (apt-get install wrk)")
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "wrk")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := install(); err != nil {
		// The package lists may be missing or stale, as in a fresh container.
		update := exec.Command("apt-get", "update")
		update.Stdout, update.Stderr = os.Stderr, os.Stderr
		if err := errors.Join(update.Run(), install()); err != nil {
			return "", fmt.Errorf("installing wrk with apt-get failed (%w): %s", err, howTo)
		}
	}
	return exec.LookPath("wrk")
}

// version is what wrk says it is.
func (w *wrk) version() string {
	// wrk -v prints its version, then its usage, and exits with 1.
	out, _ := exec.Command(w.binary, "-v").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	if i := strings.Index(first, " Copyright"); i > 0 {
		first = first[:i]
	}
	return strings.TrimSpace(first)
}

// get reads url from conns connections for d.
func (w *wrk) get(url string, conns int, d time.Duration) (wrkRun, error) {
	return w.run(url, conns, d, "get.lua")
}

// post mentions techs at url from conns connections for d, with the names of
// workload (wide or hot50).
func (w *wrk) post(url string, conns int, d time.Duration, workload string) (wrkRun, error) {
	return w.run(url, conns, d, "post.lua", "--", workload)
}

func (w *wrk) run(url string, conns int, d time.Duration, script string, args ...string) (wrkRun, error) {
	threads := max(1, min(w.threads, conns))
	// wrk takes whole seconds.
	seconds := max(1, int(math.Round(d.Seconds())))
	argv := append([]string{
		"-t", fmt.Sprint(threads), "-c", fmt.Sprint(conns), "-d", fmt.Sprintf("%ds", seconds),
		"--timeout", "10s", "-s", filepath.Join(w.scripts, script), url,
	}, args...)
	cmd := exec.Command(w.binary, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return wrkRun{}, fmt.Errorf("wrk %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	r, err := parseWrkReport(stdout.String())
	if err != nil {
		return wrkRun{}, err
	}
	r.cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	if r.Requests == 0 {
		return r, fmt.Errorf("wrk got no answer from %s: %s", url, strings.TrimSpace(stdout.String()))
	}
	return r, nil
}

// parseWrkReport finds the line report.lua printed in wrk's output.
func parseWrkReport(stdout string) (wrkRun, error) {
	for _, line := range strings.Split(stdout, "\n") {
		if raw, ok := strings.CutPrefix(line, wrkMarker); ok {
			var r wrkRun
			if err := json.Unmarshal([]byte(raw), &r); err != nil {
				return wrkRun{}, fmt.Errorf("wrk's report %q: %w", raw, err)
			}
			return r, nil
		}
	}
	return wrkRun{}, fmt.Errorf("wrk printed no report: %s", strings.TrimSpace(stdout))
}
