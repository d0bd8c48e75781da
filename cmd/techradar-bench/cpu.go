package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is the unit of the CPU times in /proc/<pid>/stat (USER_HZ), 100
// on Linux.
const clockTicks = 100

// cpuUse is the CPU time, in seconds, each process of a run has used so far:
// the service, the servers it uses and the load generator itself.
type cpuUse map[string]float64

// processCPU reads the processes' CPU times; a process that is not running
// (Redis with the embedded mode's SQLite, say) is left out.
func processCPU(servicePID int) cpuUse {
	use := cpuUse{}
	add := func(name string, pid int) {
		if seconds, err := cpuSeconds(pid); err == nil {
			use[name] += seconds
		}
	}
	add("techradar", servicePID)
	add("load generator", os.Getpid())
	for _, server := range []struct{ name, comm string }{
		{"MariaDB", "mariadbd"}, {"MariaDB", "mysqld"}, {"Redis", "redis-server"},
	} {
		for _, pid := range pidsNamed(server.comm) {
			add(server.name, pid)
		}
	}
	return use
}

// since is the CPU used between earlier and use, per process.
func (use cpuUse) since(earlier cpuUse) cpuUse {
	delta := cpuUse{}
	for name, seconds := range use {
		delta[name] = seconds - earlier[name]
	}
	return delta
}

// perCommand formats the CPU per command of each process, and their total.
func (use cpuUse) perCommand(commands int) string {
	if commands == 0 {
		return "—"
	}
	var (
		parts []string
		total float64
	)
	for _, name := range []string{"techradar", "MariaDB", "Redis", "load generator"} {
		seconds, ok := use[name]
		if !ok {
			continue
		}
		total += seconds
		parts = append(parts, fmt.Sprintf("%s %.0f", name, seconds/float64(commands)*1e6))
	}
	return fmt.Sprintf("%.0f µs: %s", total/float64(commands)*1e6, strings.Join(parts, ", "))
}

func (use cpuUse) total() float64 {
	var total float64
	for _, seconds := range use {
		total += seconds
	}
	return total
}

func cpuSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields count
	// from the last parenthesis. utime and stime are fields 14 and 15.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err := strconv.ParseFloat(fields[11], 64)
	if err != nil {
		return 0, err
	}
	stime, err := strconv.ParseFloat(fields[12], 64)
	if err != nil {
		return 0, err
	}
	return (utime + stime) / clockTicks, nil
}

func pidsNamed(comm string) []int {
	paths, _ := filepath.Glob("/proc/[0-9]*/comm")
	var pids []int
	for _, path := range paths {
		name, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(name)) != comm {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
