package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockTicks is the unit of the CPU times in /proc/<pid>/stat (USER_HZ), 100
// on Linux.
const clockTicks = 100

// cpuUse is the CPU time, in seconds, each process of a run has used so far,
// by name: the service and the servers it uses.
type cpuUse map[string]float64

// cpuMeter names the processes a figure counts: the service and the servers
// its backend uses, each by its process ids.
type cpuMeter map[string][]int

// serverNames orders the processes in what the bench prints.
var serverNames = []string{"techradar", "MariaDB", "Redis", "Kafka"}

// meter counts the service of p and the servers be uses: MariaDB and Redis
// found by asking them for their process, the in-memory Kafka when it runs.
func (b *bench) meter(p *process, be backend) cpuMeter {
	m := cpuMeter{"techradar": {p.cmd.Process.Pid}}
	for _, server := range be.servers {
		switch server {
		case "MariaDB":
			m[server] = b.mariaDBPIDs()
		case "Redis":
			m[server] = b.redisPIDs()
		}
	}
	if b.kafka != nil {
		m["Kafka"] = []int{b.kafka.cmd.Process.Pid}
	}
	return m
}

// read is the CPU each process has used so far; a process that has gone is
// left out.
func (m cpuMeter) read() cpuUse {
	use := cpuUse{}
	for name, pids := range m {
		for _, pid := range pids {
			if seconds, err := cpuSeconds(pid); err == nil {
				use[name] += seconds
			}
		}
	}
	return use
}

// redisPIDs is the process of the Redis server at the bench's address, or,
// if it does not say, every redis-server on the machine.
func (b *bench) redisPIDs() []int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	client := redis.NewClient(&redis.Options{Addr: b.redisAddr})
	defer client.Close()
	info, err := client.Info(ctx, "server").Result()
	if err == nil {
		for _, line := range strings.Split(info, "\n") {
			if raw, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
				if pid, err := strconv.Atoi(raw); err == nil {
					return []int{pid}
				}
			}
		}
	}
	return pidsNamed("redis-server")
}

// mariaDBPIDs is the process of the MySQL server at the bench's address,
// from its pid file, or every mariadbd and mysqld on the machine.
func (b *bench) mariaDBPIDs() []int {
	db, err := sql.Open("mysql", b.mysqlDSN)
	if err == nil {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var pidFile string
		if db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&pidFile) == nil {
			if raw, err := os.ReadFile(pidFile); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil {
					return []int{pid}
				}
			}
		}
	}
	return append(pidsNamed("mariadbd"), pidsNamed("mysqld")...)
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
	var parts []string
	for _, name := range serverNames {
		if seconds, ok := use[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", name, seconds/float64(commands)*1e6))
		}
	}
	return fmt.Sprintf("%.0f µs (%s)", use.total()/float64(commands)*1e6, strings.Join(parts, ", "))
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

// machineTicks is the time, in clock ticks, all cores of the machine have
// spent so far, and the part of it the hypervisor gave to other machines
// (steal).
type machineTicks struct {
	all, steal float64
}

// readMachineTicks reads them from the first line of /proc/stat.
func readMachineTicks() (machineTicks, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	return parseMachineTicks(line)
}

// parseMachineTicks reads the line "cpu user nice system idle iowait irq
// softirq steal [guest guest_nice]". Guest time is counted in user already,
// so the first eight fields are the whole; a kernel too old to count steal
// writes fewer, which is an error.
func parseMachineTicks(line string) (machineTicks, error) {
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return machineTicks{}, fmt.Errorf("/proc/stat: no steal time in %q", line)
	}
	var t machineTicks
	for i, field := range fields[1:9] {
		ticks, err := strconv.ParseFloat(field, 64)
		if err != nil {
			return machineTicks{}, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
		t.all += ticks
		if i == 7 {
			t.steal = ticks
		}
	}
	return t, nil
}

// steal is the machine's time over one or more intervals and the part the
// hypervisor took for other machines: a figure measured while it took much
// is slower than the code, and compares only with figures measured alike.
type steal struct {
	all, stolen float64
	// unknown: some reading of /proc/stat failed.
	unknown bool
}

// stealClock is an interval being measured.
type stealClock struct {
	start machineTicks
	err   error
}

func startSteal() stealClock {
	start, err := readMachineTicks()
	return stealClock{start: start, err: err}
}

// stop ends the interval.
func (c stealClock) stop() steal {
	end, err := readMachineTicks()
	if c.err != nil || err != nil {
		return steal{unknown: true}
	}
	return steal{all: end.all - c.start.all, stolen: end.steal - c.start.steal}
}

// add is the two intervals together.
func (s steal) add(other steal) steal {
	return steal{all: s.all + other.all, stolen: s.stolen + other.stolen, unknown: s.unknown || other.unknown}
}

func (s steal) String() string {
	if s.unknown || s.all <= 0 {
		return "steal unknown"
	}
	return "steal " + percent(s.stolen/s.all)
}
