package testenv

import (
	"context"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server of the test's own, for a test that kills,
// restarts or freezes Redis without disturbing the shared one.
type RedisServer struct {
	addr string
	cmd  *exec.Cmd
}

// redisServerStartTimeout bounds the wait for a new redis-server to answer.
const redisServerStartTimeout = 10 * time.Second

// StartRedisServer runs a redis-server that keeps nothing on disk, on addr
// or, when empty, on a free port; it stops when the test ends. Started again
// on the address of one that was stopped, Redis comes back empty.
func StartRedisServer(t testing.TB, addr string) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	if addr == "" {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = listener.Addr().String()
		_ = listener.Close()
	}
	_, port, _ := net.SplitHostPort(addr)
	// #nosec G204 -- a test's own redis-server: the program is a constant, and the port one the test picked on loopback
	server := &RedisServer{addr: addr, cmd: exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")}
	if err := server.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Stop)

	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	deadline := time.Now().Add(redisServerStartTimeout)
	for !server.answers(client) {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s never answered", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return server
}

func (s *RedisServer) answers(client *redis.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return client.Ping(ctx).Err() == nil
}

// Addr is the server's address.
func (s *RedisServer) Addr() string { return s.addr }

// Stop kills the server, as a crash would.
func (s *RedisServer) Stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Freeze stops the server without closing its connections: they stay open
// and nothing answers on them, as with a Redis that hangs.
func (s *RedisServer) Freeze() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw lets a frozen server go on.
func (s *RedisServer) Thaw() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }
