// Command techradar-bench measures techradar the way its users would and
// prints each figure beside the ceiling measured in the same run and the
// target of the specification. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// maxDrain bounds the wait for a backlog of commands to be applied.
const maxDrain = 90 * time.Second

type bench struct {
	binary    string
	tempDir   string
	redisAddr string
	mysqlDSN  string
	duration  time.Duration
	conns     int
	log       io.Writer
	rows      []row
}

// row is one line of the table.
type row struct {
	figure, backend   string
	measured, ceiling string
	ratio, target     string
	verdict           string
}

func main() {
	var (
		b         bench
		only      = flag.String("backends", "all", "comma-separated: "+backendNames()+", or all")
		logPath   = flag.String("log", "", "file for the services' logs (default: discarded)")
		bareAddr  = flag.String("bare-echo-addr", "", "internal: serve the bare echo ceiling on this address")
		bareBody  = flag.String("bare-echo-body", "", "internal: the body the bare echo ceiling returns")
		reportOut = flag.String("out", "", "also write the table, as Markdown, to this file")
		soakFor   = flag.Duration("soak", 0, "instead of the figures, a soak of this length on each durable backend (make soak)")
		soakEvery = flag.Duration("soak-interval", time.Minute, "with -soak: how often the soak samples")
		soakRate  = flag.Int("soak-rate", 500, "with -soak: commands a second")
	)
	flag.StringVar(&b.binary, "binary", "bin/techradar", "the techradar binary to measure")
	flag.StringVar(&b.redisAddr, "redis", "127.0.0.1:6379", "Redis address")
	flag.StringVar(&b.mysqlDSN, "mysql", "root@tcp(127.0.0.1:3306)/", "MySQL server DSN, without a database")
	flag.DurationVar(&b.duration, "duration", 10*time.Second, "length of each load")
	flag.IntVar(&b.conns, "conns", 32, "connections of the closed-loop loads")
	flag.Parse()

	if *bareAddr != "" {
		if err := serveBareEcho(*bareAddr, *bareBody); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	run := func() error { return b.run(*only, *reportOut) }
	if *soakFor > 0 {
		run = func() error {
			return (&soak{bench: &b, length: *soakFor, interval: *soakEvery, rate: *soakRate, out: os.Stdout}).run(*only)
		}
	}
	cleanup, err := b.setUp(*logPath)
	if err == nil {
		err = run()
		cleanup()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "techradar-bench:", err)
		os.Exit(1)
	}
}

func backendNames() string {
	names := make([]string, len(backends))
	for i, be := range backends {
		names[i] = be.name
	}
	return strings.Join(names, ", ")
}

// setUp opens the services' log and a temporary directory; cleanup
// releases them.
func (b *bench) setUp(logPath string) (cleanup func(), err error) {
	b.log = io.Discard
	var logFile *os.File
	if logPath != "" {
		if logFile, err = os.Create(logPath); err != nil {
			return nil, err
		}
		b.log = logFile
	}
	if b.tempDir, err = os.MkdirTemp("", "techradar-bench-"); err != nil {
		return nil, err
	}
	return func() {
		_ = os.RemoveAll(b.tempDir)
		if logFile != nil {
			_ = logFile.Close()
		}
	}, nil
}

func (b *bench) run(only, reportOut string) error {
	selected := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		selected[strings.TrimSpace(name)] = true
	}
	needsShared := false
	for _, be := range backends {
		if selected["all"] || selected[be.name] {
			needsShared = needsShared || be.name != "embedded"
		}
	}
	if needsShared {
		b.ceilings()
	}
	for _, be := range backends {
		if !selected["all"] && !selected[be.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", be.name)
		if err := b.measure(be); err != nil {
			return fmt.Errorf("%s: %w", be.name, err)
		}
	}
	return b.print(reportOut)
}

// ceilings measures the raw rates of the pieces the durable backends are made of.
func (b *bench) ceilings() {
	fmt.Fprintln(os.Stderr, "== raw ceilings")
	d := min(b.duration, 3*time.Second)
	add := func(figure string, v float64, err error) {
		r := row{figure: figure, backend: "—", measured: fmt.Sprintf("%.0f/s", v), ceiling: "—", ratio: "—", target: "—", verdict: "—"}
		if err != nil {
			r.measured = "error: " + err.Error()
		}
		b.add(r)
	}
	v, err := b.redisXAddRate(d)
	add("raw Redis XADD, 32 clients", v, err)
	v, err = b.redisXReadGroupRate(50_000)
	add("raw Redis XREADGROUP+XACK, batches of 100", v, err)
	v, err = b.mysqlTxRate(d)
	add("raw MySQL write transactions, 32 connections", v, err)
	v, err = kafkaProduceRate(d)
	add("raw in-process Kafka produce, 32 producers", v, err)
}

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

	// Warm reads, against a bare echo handler returning the same bytes.
	body, err := warmList(p.base)
	if err != nil {
		return err
	}
	get := closedLoop(getTargeter(p.base+"/api/techs"), b.conns, b.duration, 200)
	bare, err := b.startBareEcho(body)
	if err != nil {
		return err
	}
	ceiling := closedLoop(getTargeter(bare.base+"/api/techs"), b.conns, b.duration, 200)
	bare.stop()
	b.add(row{figure: fmt.Sprintf("warm GET /api/techs, 100 techs, %d conns", b.conns), backend: be.name,
		measured: perSecond(get.Rate), ceiling: perSecond(ceiling.Rate) + " bare echo",
		ratio: percent(get.Rate / ceiling.Rate), target: "≥ 60%", verdict: verdict(get.Rate >= 0.6*ceiling.Rate)})
	b.add(row{figure: "warm GET p50 / p99", backend: be.name,
		measured: ms(get.P50) + " / " + ms(get.P99), ceiling: ms(ceiling.P50) + " / " + ms(ceiling.P99),
		ratio: "—", target: "p99 < 10 ms", verdict: verdict(get.P99 < 10*time.Millisecond)})

	// Commands: accepted as fast as 32 clients can send, then until all are visible.
	expected, err := totalMentions(p.base)
	if err != nil {
		return err
	}
	before := expected
	start, cpuBefore := time.Now(), processCPU(p.cmd.Process.Pid)
	post := closedLoop(postTechTargeter(p.base+"/api/techs", names), b.conns, b.duration, 202)
	expected += post.Successes
	// A backlog the backend cannot drain in time still gives a rate: what it
	// applied until then.
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), maxDrain)
	drainErr := waitForMentions(drainCtx, p.base, expected)
	cancelDrain()
	applied, err := totalMentions(p.base)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	cpu := processCPU(p.cmd.Process.Pid).since(cpuBefore)
	e2e := float64(applied-before) / elapsed.Seconds()
	drained := ""
	if drainErr != nil {
		drained = fmt.Sprintf(" (%d of %d applied in %s)", applied-before, post.Successes, maxDrain)
		// The next figures need the backlog gone; this wait is bounded too.
		finishCtx, cancelFinish := context.WithTimeout(context.Background(), 10*time.Minute)
		err := waitForMentions(finishCtx, p.base, expected)
		cancelFinish()
		if err != nil {
			return fmt.Errorf("the backlog of %d commands was not applied: %w", expected-applied, err)
		}
	}
	b.add(row{figure: fmt.Sprintf("POST /api/techs accepted, %d conns", b.conns), backend: be.name,
		measured: perSecond(post.Rate), ceiling: "—", ratio: "—", target: "—", verdict: "—"})
	target, floor := "≥ 5,000/s", 5000.0
	switch be.name {
	case "sql":
		target, floor = "≥ 1,000/s", 1000
	case "embedded", "embedded+redis":
		target, floor = "—", 0
	}
	b.add(row{figure: "end to end: accepted → applied → event → visible", backend: be.name,
		measured: perSecond(e2e) + drained, ceiling: perSecond(post.Rate) + " accepted", ratio: percent(e2e / post.Rate),
		target: target, verdict: verdictIf(floor > 0, e2e >= floor)})
	// What each process spent per command over those loads, beside what the
	// machine's cores allow at the target rate.
	cores := float64(runtime.NumCPU())
	budget := "—"
	if floor > 0 {
		budget = fmt.Sprintf("%.0f µs at %s on %d cores", cores/floor*1e6, target[len("≥ "):], runtime.NumCPU())
	}
	b.add(row{figure: "CPU per command applied, same loads", backend: be.name,
		measured: cpu.perCommand(applied - before), ceiling: budget,
		ratio: percent(cpu.total()/(cores*elapsed.Seconds())) + " of the cores busy", target: "—", verdict: "—"})

	// Read-after-write under a steady 500 commands/s.
	p50, p99, err := b.readAfterWrite(p.base, names)
	if err != nil {
		return err
	}
	b.add(row{figure: "read-after-write under 500 commands/s, p50 / p99", backend: be.name,
		measured: ms(p50) + " / " + ms(p99), ceiling: "—", ratio: "—", target: "p99 ≤ 50 ms", verdict: verdict(p99 <= 50*time.Millisecond)})

	rss, err := p.peakRSS()
	if err != nil {
		return err
	}
	b.add(row{figure: "peak resident memory of the process", backend: be.name,
		measured: fmt.Sprintf("%.0f MB", float64(rss)/(1<<20)), ceiling: "—", ratio: "—", target: "< 150 MB", verdict: verdict(rss < 150<<20)})
	return nil
}

func (b *bench) add(r row) {
	b.rows = append(b.rows, r)
	fmt.Fprintf(os.Stderr, "   %s: %s (ceiling %s, target %s) %s\n", r.figure, r.measured, r.ceiling, r.target, r.verdict)
}

func (b *bench) print(reportOut string) error {
	var out strings.Builder
	out.WriteString("| figure | backend | measured | ceiling, same run | ratio | target | |\n|---|---|---|---|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&out, "| %s | %s | %s | %s | %s | %s | %s |\n", r.figure, r.backend, r.measured, r.ceiling, r.ratio, r.target, r.verdict)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIGURE\tBACKEND\tMEASURED\tCEILING (SAME RUN)\tRATIO\tTARGET\t")
	for _, r := range b.rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.figure, r.backend, r.measured, r.ceiling, r.ratio, r.target, r.verdict)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if reportOut != "" {
		return os.WriteFile(reportOut, []byte(out.String()), 0o644)
	}
	return nil
}
