package sqlstore_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/testenv"
)

// BenchmarkMentionTech applies CreateTech's change (claim the command, count
// the mention, write the tech, the command log and the event) on each store:
// one at a time, and from 32 goroutines at once, where the group commit joins
// them into shared transactions. 100 techs take the mentions in turn.
func BenchmarkMentionTech(b *testing.B) {
	names := make([]tech.Name, 100)
	for i := range names {
		names[i], _ = tech.ParseName(fmt.Sprintf("Bench %s %d", testenv.UniqueName(""), i))
	}
	for storeName, store := range newStores(b) {
		mention := func(b *testing.B, n int64) {
			name := names[n%int64(len(names))]
			id := fmt.Sprintf("%s-%d", name.Key(), n)
			if _, err := store.MentionTech(context.Background(), id, name.Key(), mentionOf(name, id)); err != nil {
				b.Fatal(err)
			}
		}
		var seq atomic.Int64
		b.Run(storeName+"/one-at-a-time", func(b *testing.B) {
			for b.Loop() {
				mention(b, seq.Add(1))
			}
		})
		b.Run(storeName+"/32-concurrent", func(b *testing.B) {
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mention(b, seq.Add(1))
				}
			})
		})
	}
}
