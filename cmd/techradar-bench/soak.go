package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// soak is a long run at a steady rate with short retention: every sample
// interval it records what the service and its stores hold, and at the end
// prints each series' slope. A service that keeps its state bounded shows
// every series flat after the first interval.
type soak struct {
	bench    *bench
	length   time.Duration
	interval time.Duration
	rate     int
	out      io.Writer
}

// soakEnv keeps what a soak leaves behind short-lived, so that the steady
// state is reached within the first interval.
var soakEnv = []string{
	"COMMAND_RETENTION=30s", "SMS_RETENTION=30s", "RETENTION_INTERVAL=10s",
	"COMMAND_RESEND_AFTER=1m", "LOG_LEVEL=warn",
}

// soakNames are the techs a soak mentions: 50 hot names take half the
// mentions, 950 others the rest, as real mentions are spread.
var soakNames = func() []string {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("Soak %04d", i)
	}
	return names
}()

func soakName() string {
	if rand.IntN(2) == 0 {
		return soakNames[rand.IntN(50)]
	}
	return soakNames[50+rand.IntN(len(soakNames)-50)]
}

// sample is what a soak records at one moment.
type sample struct {
	at     time.Duration
	series map[string]float64
}

func (s *soak) run(only string) error {
	selected := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		selected[strings.TrimSpace(name)] = true
	}
	for _, be := range backends {
		if be.name == "embedded" || be.name == "embedded+redis" || (!selected["all"] && !selected[be.name]) {
			continue
		}
		fmt.Fprintf(os.Stderr, "== soak %s: %s at %d commands/s, a sample every %s\n", be.name, s.length, s.rate, s.interval)
		if err := s.soakBackend(be); err != nil {
			return fmt.Errorf("%s: %w", be.name, err)
		}
	}
	return nil
}

func (s *soak) soakBackend(be backend) error {
	env, cleanup, err := be.env(s.bench)
	if err != nil {
		return err
	}
	defer cleanup()
	env = append(env, soakEnv...)
	p, err := s.bench.startTechradar("serve", env)
	if err != nil {
		return err
	}
	defer p.stop()
	probe, err := newSoakProbe(env, p)
	if err != nil {
		return err
	}
	defer probe.close()

	load := newSoakLoad(p.base, s.rate)
	ctx, stop := context.WithTimeout(context.Background(), s.length)
	defer stop()
	loadDone := make(chan struct{})
	go func() { load.run(ctx); close(loadDone) }()

	var samples []sample
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	start := time.Now()
	// A sample per interval while the load runs; the load's end takes none,
	// for the interval it closes is cut short.
	for running := true; running; {
		select {
		case <-ticker.C:
		case <-ctx.Done():
			running = false
			if len(samples) > 0 {
				continue
			}
		}
		series, err := probe.read(context.Background())
		if err != nil {
			return err
		}
		series["POST p99 (ms)"] = load.takeP99().Seconds() * 1000
		samples = append(samples, sample{at: time.Since(start), series: series})
		fmt.Fprintf(os.Stderr, "   %s: %d accepted\n", time.Since(start).Round(time.Second), load.accepted.Load())
	}
	<-loadDone

	drainCtx, cancelDrain := context.WithTimeout(context.Background(), maxDrain)
	defer cancelDrain()
	accepted := int(load.accepted.Load())
	err = waitFor(drainCtx, 100*time.Millisecond, func() (bool, error) {
		n, err := allMentions(p.base)
		return n >= accepted, err
	})
	mentions, mentionsErr := allMentions(p.base)
	if mentionsErr != nil {
		return mentionsErr
	}
	s.report(be.name, samples, accepted, mentions, load.failed.Load(), load.skipped.Load())
	if err != nil || mentions != accepted {
		return fmt.Errorf("%d commands accepted, %d mentions applied", accepted, mentions)
	}
	return nil
}

// report prints each series with its value after the first interval, at the
// end, and its slope per minute over the samples after the first interval.
func (s *soak) report(backend string, samples []sample, accepted, mentions int, failed, skipped int64) {
	fmt.Fprintf(s.out, "\n### Soak: %s, %s at %d commands/s, a sample every %s\n\n", backend, s.length, s.rate, s.interval)
	fmt.Fprintf(s.out, "%d commands accepted, %d mentions applied, %d requests failed, %d not sent in time by the load generator.\n\n", accepted, mentions, failed, skipped)
	var names []string
	for name := range samples[len(samples)-1].series {
		names = append(names, name)
	}
	sort.Strings(names)
	w := tabwriter.NewWriter(s.out, 0, 4, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(w, "| series\t after the first interval\t at the end\t slope per minute\t verdict (peaks of the two halves)\t")
	fmt.Fprintln(w, "|---\t---\t---\t---\t---\t")
	for _, name := range names {
		var xs, ys []float64
		for _, smp := range samples[1:] {
			xs = append(xs, smp.at.Minutes())
			ys = append(ys, smp.series[name])
		}
		if len(ys) == 0 {
			continue
		}
		slope := leastSquaresSlope(xs, ys)
		fmt.Fprintf(w, "| %s\t %s\t %s\t %s\t %s\t\n", name, humanValue(ys[0]), humanValue(ys[len(ys)-1]), humanValue(slope), flatVerdict(name, ys))
	}
	_ = w.Flush()
}

// flatVerdict calls a series flat when, after the first interval, the
// highest value of the second half of the run is within a tenth (or a floor
// in the series' unit, for series near zero) of the highest of the first
// half. Maxima, not a slope: the retention's rounds make the stores' series a
// saw whose teeth a slope over a few samples mistakes for a trend, while a
// series that grows without bound passes its earlier peak.
func flatVerdict(name string, ys []float64) string {
	if len(ys) < 4 {
		return "too few samples"
	}
	floor := 10.0 // rows, entries, goroutines, files, milliseconds
	if strings.Contains(name, "bytes") {
		floor = 1 << 20
	}
	half := len(ys) / 2
	first, second := slices.Max(ys[:half]), slices.Max(ys[half:])
	if second <= first+max(0.1*first, floor) {
		return "flat"
	}
	return "GROWS"
}

func leastSquaresSlope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func humanValue(v float64) string {
	switch a := max(v, -v); {
	case a >= 1<<20:
		return fmt.Sprintf("%.1f Mi", v/(1<<20))
	case a >= 10_000:
		return fmt.Sprintf("%.1f k", v/1000)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}
