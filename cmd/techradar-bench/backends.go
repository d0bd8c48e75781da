package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/internal/rediskeys"
)

// backend is one configuration to measure: the environment of its processes
// and the servers it uses, whose CPU its figures count.
type backend struct {
	name    string
	servers []string
	env     func(b *bench) ([]string, func(), error)
}

// durableServers are the servers of every durable backend; Kafka's process
// is the bench's child (bench.kafka).
var durableServers = []string{"MariaDB", "Redis"}

var backends = []backend{
	{name: "embedded", env: func(b *bench) ([]string, func(), error) {
		return []string{"SQLITE_PATH=" + filepath.Join(b.tempDir, uniqueName("bench-")+".db")}, func() {}, nil
	}},
	{name: "embedded+redis", servers: []string{"Redis"}, env: func(b *bench) ([]string, func(), error) {
		prefix := uniqueName("techradar-bench-")
		return []string{
			"SQLITE_PATH=" + filepath.Join(b.tempDir, uniqueName("bench-")+".db"),
			"CACHE=redis", "REDIS_ADDR=" + b.redisAddr, "CACHE_KEY_PREFIX=" + prefix,
		}, func() { b.dropRedisKeys(prefix) }, nil
	}},
	{name: "redisstream", servers: durableServers, env: func(b *bench) ([]string, func(), error) {
		return b.sharedEnv("redisstream", nil)
	}},
	{name: "kafka", servers: durableServers, env: func(b *bench) ([]string, func(), error) {
		kafka, err := b.startKafka()
		if err != nil {
			return nil, nil, err
		}
		// One backend runs at a time: its figures find the Kafka process here.
		b.kafka = kafka
		return b.sharedEnv("kafka", []string{"KAFKA_BROKERS=" + kafka.brokers}, func() {
			kafka.stop()
			b.kafka = nil
		})
	}},
	{name: "sql", servers: durableServers, env: func(b *bench) ([]string, func(), error) {
		return b.sharedEnv("sql", nil)
	}},
}

// sharedEnv is a durable transport with MySQL and Redis: a fresh database and
// key and topic names of its own.
func (b *bench) sharedEnv(transport string, extra []string, cleanups ...func()) ([]string, func(), error) {
	dsn, drop, err := b.freshDatabase()
	if err != nil {
		for _, c := range cleanups {
			c()
		}
		return nil, nil, err
	}
	prefix := uniqueName("techradar-bench-")
	env := append([]string{
		"TRANSPORT=" + transport, "STORE=mysql", "CACHE=redis",
		"MYSQL_DSN=" + dsn, "REDIS_ADDR=" + b.redisAddr,
		"CACHE_KEY_PREFIX=" + prefix + ":readmodel", "TOPIC_PREFIX=" + prefix,
	}, extra...)
	return env, func() {
		drop()
		b.dropRedisKeys(prefix)
		for _, c := range cleanups {
			c()
		}
	}, nil
}

// dropRedisKeys removes what a backend's run left in Redis under prefix
// (its streams, cached answers and counters), as freshDatabase's drop
// removes its database: runs would otherwise fill the Redis they share.
func (b *bench) dropRedisKeys(prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := redis.NewClient(&redis.Options{Addr: b.redisAddr})
	defer client.Close()
	if _, err := rediskeys.DeleteByPrefix(ctx, client, prefix); err != nil {
		fmt.Fprintf(os.Stderr, "bench: the run's keys under %s in Redis at %s are left: %v\n", prefix, b.redisAddr, err)
	}
}

func (b *bench) freshDatabase() (string, func(), error) {
	server, err := sql.Open("mysql", b.mysqlDSN)
	if err != nil {
		return "", nil, err
	}
	name := strings.ReplaceAll(uniqueName("techradar_bench_"), "-", "_")
	if _, err := server.Exec("CREATE DATABASE " + name); err != nil {
		server.Close()
		return "", nil, fmt.Errorf("MariaDB at %s: %w (start it with `make services`)", b.mysqlDSN, err)
	}
	cfg, err := mysql.ParseDSN(b.mysqlDSN)
	if err != nil {
		server.Close()
		return "", nil, err
	}
	cfg.DBName = name
	return cfg.FormatDSN(), func() {
		_, _ = server.Exec("DROP DATABASE IF EXISTS " + name)
		server.Close()
	}, nil
}

// process is one running techradar.
type process struct {
	cmd  *exec.Cmd
	base string
	// admin is the address of its admin listener, serving its profiles;
	// "" when the bench was not asked for profiles.
	admin string
}

// startTechradar runs the binary with env in role and waits until it answers.
func (b *bench) startTechradar(role string, env []string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := b.adminAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.binary, role)
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+addr, "LOG_LEVEL=warn", "LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, env...)
	if admin != "" {
		cmd.Env = append(cmd.Env, "ADMIN_ADDR="+admin)
	}
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, base: "http://" + addr, admin: admin}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("techradar %s never answered: %w", role, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// peakRSS is the most resident memory the process has used, from the kernel.
func (p *process) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(scanner.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func uniqueName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, every time.Duration, cond func() (bool, error)) error {
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
