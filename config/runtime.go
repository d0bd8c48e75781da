package config

import (
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/techradar/techradar/internal/settings"
)

// RuntimeConfig is how Go's garbage collector runs, under the runtime's own
// variables and in their syntax. The service allocates briskly and keeps
// little: at Go's default, GOGC=100, it collected 36 times a second under
// load on Redis Streams, with 4 MB live, and spent an eighth to a sixth of
// its CPU on it. A goal of four times the live heap collects far less
// often, and the memory limit bounds the heap whatever it holds
// (docs/BENCHMARKS-HISTORY.md).
type RuntimeConfig struct {
	GOGC       string `name:"gogc" env:"GOGC" default:"400" help:"Go's garbage collection target: the heap may grow by this percentage of what is live before a collection, or off."`
	GOMEMLIMIT string `name:"gomemlimit" env:"GOMEMLIMIT" default:"80MiB" help:"Go's soft memory limit, which collects sooner as the process's Go memory nears it, in bytes with B, KiB, MiB, GiB or TiB, or off."`
}

// Check reports every setting out of range, naming its variable.
func (c RuntimeConfig) Check() error {
	var p settings.Problems
	if _, ok := gcPercent(c.GOGC); !ok {
		p.Add("GOGC", "%q must be a percentage, a whole number (negative for off), or off", c.GOGC)
	}
	if _, ok := memoryLimit(c.GOMEMLIMIT); !ok {
		p.Add("GOMEMLIMIT", "%q must be a number of bytes with B, KiB, MiB, GiB or TiB (e.g. 80MiB), or off", c.GOMEMLIMIT)
	}
	return p.Err()
}

// Apply sets the garbage collector's target and the memory limit, and
// returns what puts back those it replaced. Valid once Check passed.
func (c RuntimeConfig) Apply() (restore func()) {
	percent, _ := gcPercent(c.GOGC)
	limit, _ := memoryLimit(c.GOMEMLIMIT)
	previousPercent := debug.SetGCPercent(percent)
	previousLimit := debug.SetMemoryLimit(limit)
	return func() {
		debug.SetGCPercent(previousPercent)
		debug.SetMemoryLimit(previousLimit)
	}
}

// gcPercent is GOGC as debug.SetGCPercent takes it, negative for off: the
// runtime's own reading of the variable, which takes a negative number for
// off too, and keeps 32 bits.
func gcPercent(value string) (int, bool) {
	if value == "off" {
		return -1, true
	}
	n, err := strconv.ParseInt(value, 10, 32)
	return int(n), err == nil
}

// memoryLimit is GOMEMLIMIT in bytes, in the runtime's syntax: a whole
// number with one of its suffixes, or off for no limit. The runtime reads
// the variable itself before the process starts and stops it on a value it
// cannot read, so only the flag reaches a refusal here.
func memoryLimit(value string) (int64, bool) {
	if value == "off" {
		return math.MaxInt64, true
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}}
	shift := uint(0)
	for _, u := range units {
		if number, ok := strings.CutSuffix(value, u.suffix); ok {
			value, shift = number, u.shift
			break
		}
	}
	if value == "" || strings.Trim(value, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, false
	}
	return n << shift, true
}
