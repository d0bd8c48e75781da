// Command techradar-bench measures techradar the way its users would and
// prints each figure beside the ceiling measured in the same run and the
// target of the specification. `make bench` runs it.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// maxDrain bounds the wait for a backlog of commands to be applied.
const maxDrain = 90 * time.Second

type bench struct {
	binary     string
	tempDir    string
	redisAddr  string
	mysqlDSN   string
	duration   time.Duration
	conns      int
	rounds     int
	wrkBinary  string
	wrkThreads int
	wrk        *wrk
	// profileDir, when set, receives a CPU profile of the service for each
	// end-to-end load.
	profileDir string
	// kafka is the in-memory Kafka of the backend being measured, if any.
	kafka *kafkaProcess
	log   io.Writer
	rows  []row
}

// row is one line of the table. cpu is the CPU time per request or command
// of the service and of the ceiling; latency the p50 and p99.
type row struct {
	figure, backend   string
	measured, ceiling string
	ratio             string
	cpu, latency      string
	target, verdict   string
}

func main() {
	var (
		b         bench
		only      = flag.String("backends", "all", "comma-separated: "+backendNames()+", or all")
		logPath   = flag.String("log", "", "file for the services' logs (default: discarded)")
		bareAddr  = flag.String("bare-echo-addr", "", "internal: serve the bare echo ceiling on this address")
		bareBody  = flag.String("bare-echo-body", "", "internal: the body the bare echo ceiling returns")
		kafka     = flag.Bool("serve-kafka", false, "internal: serve the in-memory Kafka, print its address and wait for a signal")
		reportOut = flag.String("out", "", "also write the table, as Markdown, to this file")
		soakFor   = flag.Duration("soak", 0, "instead of the figures, a soak of this length on each durable backend (make soak)")
		soakEvery = flag.Duration("soak-interval", time.Minute, "with -soak: how often the soak samples")
		soakRate  = flag.Int("soak-rate", 500, "with -soak: commands a second")
	)
	flag.StringVar(&b.binary, "binary", "bin/techradar", "the techradar binary to measure")
	flag.StringVar(&b.redisAddr, "redis", "127.0.0.1:6379", "Redis address")
	flag.StringVar(&b.mysqlDSN, "mysql", "root@tcp(127.0.0.1:3306)/", "MySQL server DSN, without a database")
	flag.DurationVar(&b.duration, "duration", 10*time.Second, "length of each load")
	flag.IntVar(&b.conns, "conns", 32, "connections of the closed-loop loads (wrk)")
	flag.IntVar(&b.rounds, "rounds", 3, "warm reads: rounds of the service and the bare echo in turn")
	flag.StringVar(&b.wrkBinary, "wrk", "wrk", "the wrk binary; when it is not on PATH, the bench installs Debian's package as root")
	flag.IntVar(&b.wrkThreads, "wrk-threads", 2, "wrk's threads")
	flag.StringVar(&b.profileDir, "profiles", "", "write a CPU profile of the service for each end-to-end load into this directory, as <backend>-<workload>.pprof (profiling costs the service some CPU: quote the figures of a run without it)")
	flag.Parse()

	if *kafka {
		if err := serveKafka(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}

	if *bareAddr != "" {
		if err := serveBareEcho(*bareAddr, *bareBody); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	run := func() error { return b.run(*only, *reportOut) }
	if *soakFor > 0 && b.profileDir != "" {
		fmt.Fprintln(os.Stderr, "techradar-bench: -profiles profiles the end-to-end loads, which a soak does not run")
		os.Exit(2)
	}
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
	if b.profileDir != "" {
		if err = os.MkdirAll(b.profileDir, 0o755); err != nil {
			return nil, err
		}
	}
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
	if b.conns < 1 || b.rounds < 1 || b.wrkThreads < 1 || b.duration < time.Second {
		return fmt.Errorf("-conns, -rounds and -wrk-threads must be at least 1, -duration at least 1s")
	}
	var err error
	if b.wrk, err = newWrk(b.wrkBinary, b.wrkThreads, b.tempDir); err != nil {
		return err
	}
	header := b.runInfo(b.wrk.version())
	fmt.Print(header + "\n")
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
	return b.print(header, reportOut)
}

// ceilings measures the raw rates of the pieces the durable backends are made of.
func (b *bench) ceilings() {
	fmt.Fprintln(os.Stderr, "== raw ceilings")
	d := min(b.duration, 3*time.Second)
	add := func(figure string, v float64, err error) {
		r := row{figure: figure, backend: "—", measured: fmt.Sprintf("%.0f/s", v), ceiling: "—", ratio: "—",
			cpu: "—", latency: "—", target: "—", verdict: "—"}
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
	v, err = b.kafkaProduceRate(d)
	add("raw in-memory Kafka (kfake, own process) produce, 32 producers", v, err)
}

func (b *bench) add(r row) {
	b.rows = append(b.rows, r)
	fmt.Fprintf(os.Stderr, "   %s: %s (ceiling %s, ratio %s, CPU %s, p50/p99 %s, target %s) %s\n",
		r.figure, r.measured, r.ceiling, r.ratio, r.cpu, r.latency, r.target, r.verdict)
}

// print writes the table, in Markdown, after the run's header, to stdout and
// to reportOut if given.
func (b *bench) print(header, reportOut string) error {
	var out strings.Builder
	out.WriteString("| figure | backend | measured | ceiling, same run | ratio | CPU per request: service / ceiling | p50 / p99 | target | |\n")
	out.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range b.rows {
		fmt.Fprintf(&out, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.figure, r.backend, r.measured, r.ceiling, r.ratio, r.cpu, r.latency, r.target, r.verdict)
	}
	fmt.Print(out.String())
	if reportOut != "" {
		return os.WriteFile(reportOut, []byte(header+"\n"+out.String()), 0o644)
	}
	return nil
}
