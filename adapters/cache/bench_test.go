package cache_test

import (
	"context"
	"testing"
)

// BenchmarkReadModelCacheHit reads one warm entry of each cache: what a warm
// GET /api/techs costs beyond HTTP.
func BenchmarkReadModelCacheHit(b *testing.B) {
	value := make([]byte, 16<<10) // about the JSON of 100 techs
	for name, cache := range newCaches(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			_, generation, _, err := cache.Get(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if err := cache.Set(ctx, "bench", generation, value); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				if _, _, found, err := cache.Get(ctx, "bench"); err != nil || !found {
					b.Fatalf("found %v, err %v", found, err)
				}
			}
		})
	}
}
