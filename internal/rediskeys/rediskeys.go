// Package rediskeys removes the keys a run left in a shared Redis under a
// prefix of its own: the tests' and the bench's streams, counters and cached
// answers, which would otherwise pile up in a developer's Redis run after run.
package rediskeys

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// batch is how many keys one UNLINK removes.
const batch = 500

// DeleteByPrefix removes every key whose name begins with prefix and reports
// how many it removed. It unlinks them, so Redis frees large streams in the
// background instead of blocking on them.
func DeleteByPrefix(ctx context.Context, client *redis.Client, prefix string) (int, error) {
	if prefix == "" {
		// An empty prefix would match every key of the database.
		return 0, nil
	}
	var (
		keys    []string
		removed int
	)
	unlink := func() error {
		if len(keys) == 0 {
			return nil
		}
		n, err := client.Unlink(ctx, keys...).Result()
		removed += int(n)
		keys = keys[:0]
		return err
	}
	iter := client.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == batch {
			if err := unlink(); err != nil {
				return removed, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return removed, err
	}
	return removed, unlink()
}

// globEscape escapes the characters SCAN's MATCH pattern gives a meaning.
var globEscape = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace
