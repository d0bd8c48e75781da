package config_test

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/techradar/techradar/config"
)

func TestRuntimeSettings(t *testing.T) {
	t.Parallel()
	for _, c := range []config.RuntimeConfig{
		{GOGC: "400", GOMEMLIMIT: "80MiB"},
		{GOGC: "off", GOMEMLIMIT: "off"},
		{GOGC: "0", GOMEMLIMIT: "1GiB"},
		{GOGC: "-1", GOMEMLIMIT: "off"},
		{GOGC: "100", GOMEMLIMIT: "524288"},
		{GOGC: "100", GOMEMLIMIT: "512KiB"},
		{GOGC: "100", GOMEMLIMIT: "2TiB"},
		{GOGC: "100", GOMEMLIMIT: "4096B"},
	} {
		if err := c.Check(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range []struct {
		config   config.RuntimeConfig
		variable string
	}{
		{config.RuntimeConfig{GOGC: "lots", GOMEMLIMIT: "80MiB"}, "GOGC"},
		{config.RuntimeConfig{GOGC: "4294967696", GOMEMLIMIT: "80MiB"}, "GOGC"},
		{config.RuntimeConfig{GOGC: "Off", GOMEMLIMIT: "80MiB"}, "GOGC"},
		{config.RuntimeConfig{GOGC: "400", GOMEMLIMIT: "80MB"}, "GOMEMLIMIT"},
		{config.RuntimeConfig{GOGC: "400", GOMEMLIMIT: "-1MiB"}, "GOMEMLIMIT"},
		{config.RuntimeConfig{GOGC: "400", GOMEMLIMIT: "+80MiB"}, "GOMEMLIMIT"},
		{config.RuntimeConfig{GOGC: "400", GOMEMLIMIT: " 80MiB"}, "GOMEMLIMIT"},
		{config.RuntimeConfig{GOGC: "400", GOMEMLIMIT: "1.5GiB"}, "GOMEMLIMIT"},
		{config.RuntimeConfig{GOGC: "400", GOMEMLIMIT: "9999999TiB"}, "GOMEMLIMIT"},
		{config.RuntimeConfig{GOGC: "400", GOMEMLIMIT: ""}, "GOMEMLIMIT"},
	} {
		err := c.config.Check()
		if err == nil || !strings.Contains(err.Error(), c.variable) {
			t.Errorf("%+v: %v; want an error naming %s", c.config, err, c.variable)
		}
	}
}

func TestRuntimeSettingsApplied(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent); debug.SetMemoryLimit(limit) })

	restore := config.RuntimeConfig{GOGC: "250", GOMEMLIMIT: "64MiB"}.Apply()
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("GOGC applied as %d, want 250", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 64<<20 {
		t.Errorf("GOMEMLIMIT applied as %d, want %d", got, 64<<20)
	}
	debug.SetGCPercent(250)
	restore()
	if got, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1); got != 100 || limit != math.MaxInt64 {
		t.Errorf("after restore, GOGC %d and GOMEMLIMIT %d; want 100 and no limit", got, limit)
	}
	config.RuntimeConfig{GOGC: "off", GOMEMLIMIT: "off"}.Apply()
	if got := debug.SetGCPercent(100); got >= 0 {
		t.Errorf("GOGC=off applied as %d, want it negative", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT=off applied as %d, want no limit", got)
	}
}
