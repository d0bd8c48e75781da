package cache

import (
	"context"
	"sync"

	"github.com/techradar/techradar/app/query"
)

// Memory is the read-model cache of the embedded mode: a map in
// this process. Only event handlers in the same process can invalidate it.
type Memory struct {
	maxEntries int

	mu         sync.RWMutex
	generation uint64
	entries    map[string][]byte
}

var _ query.ReadModelCache = (*Memory)(nil)

// NewMemory holds up to maxEntries answers per generation; past
// that, new answers are not kept (the store answers them), so that a client
// asking ever new pages cannot grow the process without bound.
func NewMemory(maxEntries int) *Memory {
	if maxEntries <= 0 {
		maxEntries = 10_000
	}
	return &Memory{maxEntries: maxEntries, entries: map[string][]byte{}}
}

func (c *Memory) Get(_ context.Context, key string) ([]byte, uint64, bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	value, found := c.entries[key]
	return value, c.generation, found, nil
}

func (c *Memory) Set(_ context.Context, key string, generation uint64, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if generation != c.generation || len(c.entries) >= c.maxEntries {
		return nil
	}
	c.entries[key] = value
	return nil
}

func (c *Memory) Invalidate(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	clear(c.entries)
	return nil
}

// Ping always succeeds: the cache is this process's memory.
func (c *Memory) Ping(context.Context) error { return nil }
