package main

import "testing"

func TestMachineTicksAddUp(t *testing.T) {
	before := readMachineTicks()
	if before.all <= 0 || before.steal < 0 || before.steal > before.all {
		t.Fatalf("/proc/stat read as %+v", before)
	}
	after := readMachineTicks()
	if after.all < before.all || after.steal < before.steal {
		t.Fatalf("the machine's time went back: %+v, then %+v", before, after)
	}
}

func TestStealShare(t *testing.T) {
	for _, tc := range []struct {
		earlier, now machineTicks
		want         string
	}{
		{machineTicks{all: 100, steal: 10}, machineTicks{all: 300, steal: 50}, "steal 20%"},
		{machineTicks{all: 100}, machineTicks{all: 200}, "steal 0%"},
		{machineTicks{}, machineTicks{}, "steal unknown"},
	} {
		if got := tc.now.stealShare(tc.earlier); got != tc.want {
			t.Errorf("%+v since %+v: %q, want %q", tc.now, tc.earlier, got, tc.want)
		}
	}
}
