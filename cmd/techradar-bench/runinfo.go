package main

import (
	"bufio"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// runInfo is what a run was measured on, printed above its figures so that
// figures of different runs are compared knowingly.
func (b *bench) runInfo(wrkVersion string) string {
	var out strings.Builder
	fmt.Fprintf(&out, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&out, "- commit: %s (working tree), binary %s: %s\n", gitHead(), b.binary, binaryRevision(b.binary))
	fmt.Fprintf(&out, "- machine: %d cores (nproc), %s, Linux %s\n", runtime.NumCPU(), cpuModel(), kernelRelease())
	fmt.Fprintf(&out, "- Go: %s (bench)\n", runtime.Version())
	if wrkVersion != "" {
		fmt.Fprintf(&out, "- load generator: %s, %d threads, %d connections\n", wrkVersion, b.wrkThreads, b.conns)
	}
	fmt.Fprintf(&out, "- each load: %s; warm reads: %d round(s), alternating service and bare echo\n", b.duration, b.rounds)
	return out.String()
}

func gitHead() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	head := strings.TrimSpace(string(out))
	// Uncommitted changes make the commit an approximation.
	if status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(status) > 0 {
		head += " with uncommitted changes"
	}
	return head
}

// binaryRevision is the commit and Go version the measured binary was built
// from, as the Go toolchain stamped them.
func binaryRevision(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "no build info (" + err.Error() + ")"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	revision := settings["vcs.revision"]
	if revision == "" {
		return "no commit stamped, " + info.GoVersion
	}
	revision = revision[:min(len(revision), 7)]
	if settings["vcs.modified"] == "true" {
		revision += " with uncommitted changes"
	}
	return revision + ", " + info.GoVersion
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown CPU"
}

func kernelRelease() string {
	raw, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(raw))
}
