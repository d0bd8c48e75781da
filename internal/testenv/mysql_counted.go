package testenv

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// CountedMySQLDatabase is MySQLDatabase whose connections count the commands
// they send to the server: the driver writes each command in one call (no TLS,
// no compression here), so each is a round trip. It lets a test hold a hot
// path to the round trips it is meant to take.
func CountedMySQLDatabase(t testing.TB) (dsn string, commands *atomic.Int64) {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	network := UniqueName("counted-tcp-")
	commands = new(atomic.Int64)
	var dialer net.Dialer
	mysql.RegisterDialContext(network, func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return countedConn{Conn: conn, writes: commands}, nil
	})
	t.Cleanup(func() { mysql.DeregisterDialContext(network) })
	cfg.Net = network
	return cfg.FormatDSN(), commands
}

// countedConn counts its writes.
type countedConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}
