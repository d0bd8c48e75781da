package main

import (
	"math"
	"testing"
)

func TestLeastSquaresSlope(t *testing.T) {
	t.Parallel()
	xs := []float64{1, 2, 3, 4, 5}
	if got := leastSquaresSlope(xs, []float64{3, 5, 7, 9, 11}); math.Abs(got-2) > 1e-9 {
		t.Fatalf("slope of a line of slope 2 = %v", got)
	}
	if got := leastSquaresSlope(xs, []float64{4, 4, 4, 4, 4}); got != 0 {
		t.Fatalf("slope of a constant = %v", got)
	}
}

// TestFlatVerdict: a saw that keeps its height is flat, whatever its phase;
// a series that passes its earlier peak by more than a tenth grows.
func TestFlatVerdict(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		ys   []float64
		want string
	}{
		{"MySQL rows: commands", []float64{16_000, 19_000, 15_500, 18_800, 16_200, 19_500, 15_900, 19_100}, "flat"},
		{"MySQL rows: commands", []float64{10_000, 20_000, 30_000, 40_000, 50_000, 60_000}, "GROWS"},
		{"service bytes: resident", []float64{90 << 20, 95 << 20, 97 << 20, 96 << 20, 98 << 20, 99 << 20}, "flat"},
		{"service bytes: resident", []float64{90 << 20, 100 << 20, 110 << 20, 120 << 20, 130 << 20, 140 << 20}, "GROWS"},
		{"service open files", []float64{0, 2, 1, 3, 2, 4}, "flat"},
		{"service open files", []float64{1, 2, 3}, "too few samples"},
	} {
		if got := flatVerdict(c.name, c.ys); got != c.want {
			t.Errorf("%s %v: %s, want %s", c.name, c.ys, got, c.want)
		}
	}
}
