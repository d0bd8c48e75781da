package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"
)

// cpuBudget is the most CPU a command may cost, all processes together (the
// load generator apart).
const cpuBudget = 400 * time.Microsecond

// workloads are the names the end-to-end loads mention: one per request out
// of 100,000,000, or 50 hot ones (wrk/post.lua).
var workloads = []string{"hot50", "wide"}

func (b *bench) measure(be backend) error {
	env, cleanup, err := be.env(b)
	if err != nil {
		return err
	}
	defer cleanup()
	p, err := b.startTechradar("serve", env)
	if err != nil {
		return err
	}
	defer p.stop()
	meter := b.meter(p, be)

	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("Tech %03d", i)
	}
	for _, name := range names {
		if err := postJSON(p.base+"/api/techs", name); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := waitForMentions(ctx, p.base, len(names)); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}

	if err := b.warmReads(be, env, p); err != nil {
		return err
	}

	// Read-after-write before the end-to-end loads: after the wide names'
	// thousands of techs, a new tech would not be on the first page the probe
	// reads.
	clock := startSteal()
	p50, p99, probes, err := b.readAfterWrite(p.base, names)
	if err != nil {
		return err
	}
	b.add(row{figure: "read-after-write under 500 commands/s (open loop, in-process)", backend: be.name,
		measured: ms(p99) + " p99", ceiling: "—", ratio: "—", cpu: clock.stop().String(),
		latency: fmt.Sprintf("%s / %s (%d probes)", ms(p50), ms(p99), probes), target: "p99 ≤ 50 ms", verdict: verdict(p99 <= 50*time.Millisecond)})

	for _, workload := range workloads {
		if err := b.endToEnd(be, p, meter, workload); err != nil {
			return fmt.Errorf("end to end, %s: %w", workload, err)
		}
	}

	rss, err := p.peakRSS()
	if err != nil {
		return err
	}
	b.add(row{figure: "peak resident memory of the process", backend: be.name,
		measured: fmt.Sprintf("%.0f MB", float64(rss)/(1<<20)), ceiling: "—", ratio: "—", cpu: "—", latency: "—",
		target: "< 150 MB", verdict: verdict(rss < 150<<20)})
	return nil
}

// wrkSeries adds up the rounds of one side of the warm reads, with the CPU
// its server used during each.
type wrkSeries struct {
	runs      []wrkRun
	serverCPU float64
	// steal is the hypervisor's share of the machine's time over its runs.
	steal steal
}

func (s *wrkSeries) add(r wrkRun, serverCPU float64) {
	s.runs = append(s.runs, r)
	s.serverCPU += serverCPU
}

func (s *wrkSeries) successes() int64 {
	var n int64
	for _, r := range s.runs {
		n += r.successes()
	}
	return n
}

func (s *wrkSeries) failures() int64 {
	var n int64
	for _, r := range s.runs {
		n += r.Errors.Status + r.socketErrors()
	}
	return n
}

// rate is the answers of every round over their time together.
func (s *wrkSeries) rate() float64 {
	var seconds float64
	for _, r := range s.runs {
		seconds += r.seconds()
	}
	if seconds == 0 {
		return 0
	}
	return float64(s.successes()) / seconds
}

// p50 is the median of the rounds' medians; p99 the worst round's, so that
// one bad round shows.
func (s *wrkSeries) p50() time.Duration {
	p50s := make([]time.Duration, len(s.runs))
	for i, r := range s.runs {
		p50s[i] = r.p50()
	}
	slices.Sort(p50s)
	return p50s[len(p50s)/2]
}

func (s *wrkSeries) p99() time.Duration {
	var worst time.Duration
	for _, r := range s.runs {
		worst = max(worst, r.p99())
	}
	return worst
}

func (s *wrkSeries) perRequest(seconds float64) string {
	n := s.successes()
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f µs", seconds/float64(n)*1e6)
}

func (s *wrkSeries) wrkCPU() float64 {
	var seconds float64
	for _, r := range s.runs {
		seconds += r.cpu
	}
	return seconds
}

// warmReads runs wrk against GET /api/techs of the service and of a bare
// echo process serving the same bytes, in turn, for the rounds, and counts
// the CPU each server used while wrk ran against it.
func (b *bench) warmReads(be backend, env []string, p *process) error {
	body, err := warmList(p.base)
	if err != nil {
		return err
	}
	bare, err := b.startBareEcho(body)
	if err != nil {
		return err
	}
	defer bare.stop()
	var service, ceiling wrkSeries
	sides := []struct {
		server *process
		series *wrkSeries
	}{{p, &service}, {bare, &ceiling}}
	for round := range b.rounds {
		// Odd rounds start with the ceiling, so that a drift of the machine
		// over the run weighs on both sides alike.
		order := []int{0, 1}
		if round%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			side := sides[i]
			before, err := cpuSeconds(side.server.cmd.Process.Pid)
			if err != nil {
				return err
			}
			clock := startSteal()
			r, err := b.wrk.get(side.server.base+"/api/techs", b.conns, b.duration)
			if err != nil {
				return err
			}
			stolen := clock.stop()
			after, err := cpuSeconds(side.server.cmd.Process.Pid)
			if err != nil {
				return err
			}
			side.series.add(r, after-before)
			side.series.steal = side.series.steal.add(stolen)
		}
	}

	target, share := "≥ 85% of the bare echo, p99 < 10 ms", 0.85
	if slices.Contains(env, "CACHE=redis") {
		target, share = "≥ 75% of the bare echo, p99 < 10 ms", 0.75
	}
	measured := perSecond(service.rate())
	if n := service.failures(); n > 0 {
		measured += fmt.Sprintf(" (%d failed)", n)
	}
	ceilingRate := perSecond(ceiling.rate()) + " bare echo"
	if n := ceiling.failures(); n > 0 {
		ceilingRate += fmt.Sprintf(" (%d failed)", n)
	}
	ratio := service.rate() / ceiling.rate()
	b.add(row{
		figure:   fmt.Sprintf("warm GET /api/techs, 100 techs, %d conns", b.conns),
		backend:  be.name,
		measured: measured, ceiling: ceilingRate, ratio: percent(ratio),
		cpu: fmt.Sprintf("%s / %s (wrk %s / %s; %s / %s)",
			service.perRequest(service.serverCPU), ceiling.perRequest(ceiling.serverCPU),
			service.perRequest(service.wrkCPU()), ceiling.perRequest(ceiling.wrkCPU()),
			service.steal, ceiling.steal),
		latency: fmt.Sprintf("%s / %s (bare echo %s / %s)", ms(service.p50()), ms(service.p99()), ms(ceiling.p50()), ms(ceiling.p99())),
		target:  target,
		verdict: verdict(ratio >= share && service.p99() < 10*time.Millisecond),
	})
	return nil
}

// endToEnd mentions techs with wrk as fast as its connections allow, for the
// duration, then waits until every accepted mention is visible in the list:
// from the first POST to then, the commands applied per second and the CPU
// every server used per command.
func (b *bench) endToEnd(be backend, p *process, meter cpuMeter, workload string) error {
	before, err := allMentions(p.base)
	if err != nil {
		return err
	}
	start, cpuBefore, clock := time.Now(), meter.read(), startSteal()
	waitForProfile := b.profileDuring(p, b.duration, be.name+"-"+workload)
	post, err := b.wrk.post(p.base+"/api/techs", b.conns, b.duration, workload)
	waitForProfile()
	if err != nil {
		return err
	}
	// A command wrk sent but did not see answered before it stopped may be
	// accepted too; it shows in applied, not in accepted.
	accepted := int(post.successes())
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), maxDrain)
	visible, drainErr := waitForAllMentions(drainCtx, p.base, before+accepted)
	cancelDrain()
	elapsed := time.Since(start)
	cpu, stolen := meter.read().since(cpuBefore), clock.stop()
	if drainErr != nil && !errors.Is(drainErr, context.DeadlineExceeded) {
		return drainErr
	}
	applied := visible - before
	e2e := float64(applied) / elapsed.Seconds()

	measured := perSecond(e2e)
	if drainErr != nil {
		measured += fmt.Sprintf(" (%d of %d applied in %s)", applied, accepted, maxDrain)
		// The next figures need the backlog gone; this wait is bounded too.
		finishCtx, cancelFinish := context.WithTimeout(context.Background(), 10*time.Minute)
		_, err := waitForAllMentions(finishCtx, p.base, before+accepted)
		cancelFinish()
		if err != nil {
			return fmt.Errorf("the backlog of %d commands was not applied: %w", accepted-applied, err)
		}
	}
	if n := post.Errors.Status + post.socketErrors(); n > 0 {
		measured += fmt.Sprintf(", %d POSTs failed", n)
	}

	target, floor := "≥ 5,000/s", 5000.0
	switch be.name {
	case "sql":
		target, floor = "≥ 1,000/s", 1000
	case "embedded", "embedded+redis":
		target, floor = "≥ 3,000/s", 3000
	}
	perCommand, cpuOK := "—", false
	if applied > 0 {
		perCommand = cpu.perCommand(applied) + fmt.Sprintf(", wrk %.0f µs apart", post.cpu/float64(applied)*1e6)
		cpuOK = cpu.total()/float64(applied) <= cpuBudget.Seconds()
	}
	cores := float64(runtime.NumCPU())
	b.add(row{
		figure:   fmt.Sprintf("end to end, %s names: accepted → applied → visible, %d conns", workload, b.conns),
		backend:  be.name,
		measured: measured,
		ceiling:  perSecond(post.rate()) + " accepted",
		ratio:    percent(e2e / post.rate()),
		cpu: fmt.Sprintf("%s per command; cores %s busy, wrk included; %s",
			perCommand, percent((cpu.total()+post.cpu)/(cores*elapsed.Seconds())), stolen),
		latency: fmt.Sprintf("%s / %s (POST)", ms(post.p50()), ms(post.p99())),
		target:  fmt.Sprintf("%s, ≤ %.0f µs CPU per command", target, float64(cpuBudget)/float64(time.Microsecond)),
		verdict: verdict(e2e >= floor && cpuOK),
	})
	return nil
}

// waitForAllMentions polls the mentions of every tech until they add up to
// want or ctx ends, and returns the last sum (-1 if none was read). Each poll
// reads every page of the list, which the wide names make long, so the
// pause between polls is at least the last poll's length: the polling, whose
// CPU the figures count, takes at most half the wait.
func waitForAllMentions(ctx context.Context, base string, want int) (int, error) {
	last := -1
	for {
		began := time.Now()
		n, err := allMentions(base)
		if err != nil {
			return last, err
		}
		last = n
		if n >= want {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(max(5*time.Millisecond, time.Since(began))):
		}
	}
}
