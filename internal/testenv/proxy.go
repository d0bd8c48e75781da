package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy stands between a service and a dependency on loopback, so that a test
// can take the dependency away without stopping it for everyone else: Down
// refuses connections, Hang accepts them and answers nothing, Up restores.
type Proxy struct {
	target   string
	listener net.Listener

	mu    sync.Mutex
	state proxyState
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

type proxyState int

const (
	proxyUp proxyState = iota
	proxyDown
	proxyHung
)

// NewProxy listens on a free loopback port and forwards to target until the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, listener: listener, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the address to give the service instead of the target's.
func (p *Proxy) Addr() string { return p.listener.Addr().String() }

// Down cuts every open connection and refuses new ones.
func (p *Proxy) Down() { p.set(proxyDown) }

// Hang cuts every open connection; new ones are accepted and never answered.
func (p *Proxy) Hang() { p.set(proxyHung) }

// Up forwards again.
func (p *Proxy) Up() { p.set(proxyUp) }

func (p *Proxy) set(state proxyState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = state
	if state != proxyUp {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

func (p *Proxy) accept() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		state := p.state
		if state != proxyDown {
			p.conns[client] = struct{}{}
		}
		p.mu.Unlock()

		switch state {
		case proxyDown:
			_ = client.Close()
		case proxyHung:
			// Tracked, so that the next state change or the end of the test closes it.
		case proxyUp:
			p.wg.Go(func() { p.forward(client) })
		}
	}
}

func (p *Proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		p.drop(client)
		return
	}
	p.mu.Lock()
	if p.state != proxyUp {
		p.mu.Unlock()
		_ = server.Close()
		p.drop(client)
		return
	}
	p.conns[server] = struct{}{}
	p.mu.Unlock()

	var pipes sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	pipes.Go(func() { pipe(server, client) })
	pipes.Go(func() { pipe(client, server) })
	pipes.Wait()
	p.drop(client)
	p.drop(server)
}

func (p *Proxy) drop(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) close() {
	_ = p.listener.Close()
	p.set(proxyDown)
	p.wg.Wait()
}
