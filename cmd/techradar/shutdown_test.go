package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/techradar/techradar/internal/testenv"
)

// The shutdown timeouts of these tests, short so that they stay fast. A
// SIGTERM must end the process within their sum.
const (
	testHTTPShutdownTimeout  = 2 * time.Second
	testHandlerCloseTimeout  = 3 * time.Second
	testShutdownBound        = testHTTPShutdownTimeout + testHandlerCloseTimeout
	testShutdownSchedulerLag = 4 * time.Second // a busy machine (eleven children at once, -race) delays the signal and the exit
)

var shortShutdownEnv = []string{
	"HTTP_SHUTDOWN_TIMEOUT=" + testHTTPShutdownTimeout.String(),
	"HANDLER_CLOSE_TIMEOUT=" + testHandlerCloseTimeout.String(),
}

// stopBySIGTERM sends SIGTERM to cmd and waits up to wait for it to exit; one
// still running then is killed.
//
//lint:ignore ST1008 exitErr is the process's exit status, one of the results, not this function's failure
func stopBySIGTERM(t *testing.T, cmd *exec.Cmd, wait time.Duration) (exited bool, exitErr error, took time.Duration) {
	t.Helper()
	began := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return true, err, time.Since(began)
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		return false, nil, time.Since(began)
	}
}

// sigtermExitsZeroInTime sends SIGTERM to cmd and fails the test unless it
// exits 0 within the shutdown bound. It returns how long the exit took.
func sigtermExitsZeroInTime(t *testing.T, cmd *exec.Cmd) time.Duration {
	t.Helper()
	exited, err, took := stopBySIGTERM(t, cmd, 3*testShutdownBound)
	switch {
	case !exited:
		t.Fatalf("still running %s after SIGTERM", took)
	case err != nil:
		t.Fatalf("exit after SIGTERM: %v (after %s)", err, took)
	case took > testShutdownBound+testShutdownSchedulerLag:
		t.Fatalf("exited %s after SIGTERM; the bound is %s", took, testShutdownBound)
	}
	return took
}

// TestSIGTERMWithCacheDownInEmbeddedMode is the shutdown that used to hang:
// embedded mode, the Redis cache down, one command accepted. Its event cannot
// be handled (the invalidation fails), so the outbox relay waits in a publish
// that no handler acknowledges. SIGTERM still ends the process in time, exit
// 0; the event stays in the outbox, and the next start relays it.
func TestSIGTERMWithCacheDownInEmbeddedMode(t *testing.T) {
	t.Parallel()
	opts, prefix := testenv.Redis(t)
	proxy := testenv.NewProxy(t, opts.Addr)
	dbPath := filepath.Join(t.TempDir(), "techradar.db")
	addr := freeAddr(t)
	env := append([]string{"HTTP_ADDR=" + addr, "SQLITE_PATH=" + dbPath, "CACHE=redis", "REDIS_ADDR=" + proxy.Addr(),
		"CACHE_KEY_PREFIX=" + prefix + ":readmodel", "HANDLER_RETRY_BACKOFF=50ms", "LOG_LEVEL=warn"}, shortShutdownEnv...)
	first := startChild(t, "", env)
	base := "http://" + addr

	proxy.Down()
	id := postMention(t, base, "Shutdown")
	time.Sleep(500 * time.Millisecond) // the relay is in the publish, the handler failing
	t.Logf("stopped in %s", sigtermExitsZeroInTime(t, first))
	if n := outboxRows(t, dbPath); n != 1 {
		t.Fatalf("%d events in the outbox after the stop; want the unrelayed one", n)
	}

	proxy.Up()
	startChild(t, "", env)
	if status := commandStatus(t, base, id); status != "processed" {
		t.Fatalf("the accepted command is %s after a restart", status)
	}
	if got := appliedMentions(t, base); got != 1 {
		t.Fatalf("%d mentions after a restart, want 1", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for outboxRows(t, dbPath) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the event left in the outbox is never relayed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func outboxRows(t *testing.T, dbPath string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSIGTERMWithADependencyDown stops each role with each dependency it uses
// down or hung, while a request is in flight: every one exits 0 in time.
func TestSIGTERMWithADependencyDown(t *testing.T) {
	t.Parallel()
	type outage struct {
		dependency string // mysql, redis-cache, redis-transport, kafka
		hang       bool
	}
	cases := []struct {
		role string
		outage
	}{
		{"serve", outage{"mysql", false}}, {"api", outage{"mysql", false}}, {"worker", outage{"mysql", true}},
		{"serve", outage{"redis-cache", true}}, {"api", outage{"redis-cache", false}}, {"worker", outage{"redis-cache", false}},
		{"serve", outage{"redis-transport", false}}, {"api", outage{"redis-transport", true}}, {"worker", outage{"redis-transport", true}},
		{"api", outage{"kafka", false}}, {"worker", outage{"kafka", false}},
	}
	for _, c := range cases {
		how := map[bool]string{false: "down", true: "hung"}[c.hang]
		t.Run(fmt.Sprintf("%s/%s-%s", c.role, c.dependency, how), func(t *testing.T) {
			t.Parallel()
			mysqlProxy := testenv.NewProxy(t, mysqlServerAddr(t))
			opts, prefix := testenv.Redis(t)
			redisProxy := testenv.NewProxy(t, opts.Addr)
			addr := freeAddr(t)
			env := append([]string{"HTTP_ADDR=" + addr, "STORE=mysql", "MYSQL_DSN=" + throughProxy(t, testenv.MySQLDatabase(t), mysqlProxy),
				"REDIS_ADDR=" + redisProxy.Addr(), "CACHE_KEY_PREFIX=" + prefix + ":readmodel", "TOPIC_PREFIX=" + prefix,
				"LOG_LEVEL=warn"}, shortShutdownEnv...)
			// The split roles need the cache in Redis; the cache and the
			// transport share REDIS_ADDR, so with the Redis transport down
			// the cache is down too, but in serve, which keeps it in memory.
			if c.role == "serve" && c.dependency == "redis-transport" {
				env = append(env, "CACHE=memory")
			} else {
				env = append(env, "CACHE=redis")
			}
			var takeDown func()
			switch c.dependency {
			case "mysql":
				env = append(env, "TRANSPORT=redisstream")
				takeDown = outageOf(mysqlProxy, c.hang)
			case "redis-cache":
				env = append(env, "TRANSPORT=sql")
				takeDown = outageOf(redisProxy, c.hang)
			case "redis-transport":
				env = append(env, "TRANSPORT=redisstream")
				takeDown = outageOf(redisProxy, c.hang)
			case "kafka":
				cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
				if err != nil {
					t.Fatal(err)
				}
				env = append(env, "TRANSPORT=kafka", "KAFKA_BROKERS="+strings.Join(cluster.ListenAddrs(), ","))
				takeDown = cluster.Close
			}
			child := startChild(t, c.role, env)
			takeDown()
			if c.role != "worker" {
				go requestInFlight("http://" + addr)
				time.Sleep(300 * time.Millisecond)
			}
			t.Logf("stopped in %s", sigtermExitsZeroInTime(t, child))
		})
	}
}

func outageOf(proxy *testenv.Proxy, hang bool) func() {
	if hang {
		return proxy.Hang
	}
	return proxy.Down
}

// requestInFlight posts a command and reads the list, answered or not.
func requestInFlight(base string) {
	client := http.Client{Timeout: 30 * time.Second}
	if resp, err := client.Post(base+"/api/techs", "application/json", strings.NewReader(`{"name": "In flight"}`)); err == nil {
		resp.Body.Close()
	}
	if resp, err := client.Get(base + "/api/techs"); err == nil {
		resp.Body.Close()
	}
}

func mysqlServerAddr(t *testing.T) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(testenv.MySQLServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Addr
}

// throughProxy is dsn with its server's address replaced by proxy's.
func throughProxy(t *testing.T, dsn string, proxy *testenv.Proxy) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = proxy.Addr()
	return cfg.FormatDSN()
}

// TestSIGTERMWithSMSProviderHung stops a worker whose SMS handler waits on a
// provider that does not answer: it exits 0 in time, and the SMS is still to
// be sent by the next worker.
func TestSIGTERMWithSMSProviderHung(t *testing.T) {
	t.Parallel()
	provider := testenv.NewSMSProvider(t, nil)
	provider.SetLatency(time.Minute)
	opts, prefix := testenv.Redis(t)
	env := append([]string{
		"TRANSPORT=redisstream", "STORE=mysql", "MYSQL_DSN=" + testenv.MySQLDatabase(t),
		"CACHE=redis", "REDIS_ADDR=" + opts.Addr, "CACHE_KEY_PREFIX=" + prefix + ":readmodel", "TOPIC_PREFIX=" + prefix,
		"SMS_PROVIDER=http", "SMS_PROVIDER_URL=" + provider.URL, "SMS_PROVIDER_TIMEOUT=50s", "HANDLER_TIMEOUT=60s",
		"LOG_LEVEL=warn",
	}, shortShutdownEnv...)
	apiAddr := freeAddr(t)
	startChild(t, "api", append(env, "HTTP_ADDR="+apiAddr))
	worker := startChild(t, "worker", append(env, "HTTP_ADDR="+freeAddr(t)))

	resp, err := http.Post("http://"+apiAddr+"/api/sms", "application/json", strings.NewReader(`{"number": "+5491100000001", "text": "hung"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(provider.RequestsByKey()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the worker never called the provider")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("stopped in %s", sigtermExitsZeroInTime(t, worker))
	if provider.SentCount() != 0 {
		t.Fatal("the hung provider sent something")
	}
}
