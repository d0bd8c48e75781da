package growstack_test

import (
	"testing"

	"github.com/techradar/techradar/internal/growstack"
)

// deep calls itself depth times with a frame of about 100 bytes each, as a
// message's middleware chain and JSON decoder do.
//
//go:noinline
func deep(depth int) int {
	var frame [12]int64
	frame[depth%len(frame)] = int64(depth)
	if depth == 0 {
		return int(frame[0])
	}
	return deep(depth-1) + int(frame[depth%len(frame)])
}

// runDeepGoroutines starts a goroutine per iteration that goes about 12 KiB
// deep, with or without growing its stack first, as the router does for each
// message.
func runDeepGoroutines(b *testing.B, grow bool) {
	done := make(chan int)
	for b.Loop() {
		go func() {
			if grow {
				growstack.Grow()
			}
			done <- deep(100)
		}()
		<-done
	}
}

func BenchmarkDeepGoroutine(b *testing.B) {
	b.Run("growing as it goes", func(b *testing.B) { runDeepGoroutines(b, false) })
	b.Run("grown first", func(b *testing.B) { runDeepGoroutines(b, true) })
}
