package main

import (
	"os"
	"testing"
)

func TestParseMachineTicks(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    machineTicks
		wantErr bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice:
		// guest time is in user already, so it is not added again.
		{line: "cpu  100 2 30 500 4 5 6 70 40 1", want: machineTicks{all: 717, steal: 70}},
		{line: "cpu 1 0 1 8 0 0 0 0", want: machineTicks{all: 10}},
		{line: "cpu 1 0 1 8 0 0 0", wantErr: true},    // no steal column
		{line: "cpu0 1 0 1 8 0 0 0 0", wantErr: true}, // a single core's line
		{line: "cpu 1 0 x 8 0 0 0 0", wantErr: true},  // not a number
		{line: "", wantErr: true},
	} {
		got, err := parseMachineTicks(tc.line)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseMachineTicks(%q) = %+v, %v; want %+v, error %t", tc.line, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestStealOverIntervals(t *testing.T) {
	for _, tc := range []struct {
		steal steal
		want  string
	}{
		{steal{all: 200, stolen: 40}, "steal 20%"},
		{steal{all: 200}.add(steal{all: 200, stolen: 100}), "steal 25%"},
		{steal{all: 200}.add(steal{unknown: true}), "steal unknown"},
		{steal{}, "steal unknown"},
	} {
		if got := tc.steal.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.steal, got, tc.want)
		}
	}
}

func TestStealOfThisMachine(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat:", err)
	}
	clock := startSteal()
	if clock.err != nil {
		t.Fatal(clock.err)
	}
	if s := clock.stop(); s.unknown || s.all < 0 || s.stolen < 0 || s.stolen > s.all {
		t.Fatalf("an interval measured as %+v", s)
	}
}
