package rediskeys_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/internal/rediskeys"
	"github.com/techradar/techradar/internal/testenv"
)

// Every key under the prefix goes, more than one UNLINK's worth and a
// stream among them; a key whose name only looks like the prefix to a glob
// stays.
func TestDeleteByPrefixRemovesOnlyThePrefixsKeys(t *testing.T) {
	t.Parallel()
	opts, prefix := testenv.Redis(t)
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()

	run := prefix + "run[1]-"
	pipe := client.Pipeline()
	for i := range 1200 {
		pipe.Set(ctx, run+"key-"+strconv.Itoa(i), "x", 0)
	}
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: run + "stream", Values: map[string]any{"payload": "x"}})
	lookalike := prefix + "run1-kept" // matches the glob run[1]-* unescaped
	pipe.Set(ctx, lookalike, "x", 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	removed, err := rediskeys.DeleteByPrefix(ctx, client, run)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 1201 {
		t.Errorf("removed %d keys, want 1201", removed)
	}
	left, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != lookalike {
		t.Errorf("%d keys left under the test's prefix, want only %s", len(left), lookalike)
	}
	if removed, err := rediskeys.DeleteByPrefix(ctx, client, ""); err != nil || removed != 0 {
		t.Errorf("an empty prefix removed %d keys (%v), want none", removed, err)
	}
}
