// Package growstack grows the stack of a new goroutine to the size its work
// will need, in one step.
//
// A goroutine starts with a small stack and the runtime doubles it each time
// a call overflows it, copying the stack and adjusting every frame on it. A
// goroutine started per message or per batch runs a deep chain (the router's
// middleware, a JSON decoder, a database driver) and would grow several
// times, each deeper and dearer than the last: under load that copying was a
// twelfth of the service's CPU. Grow, called first, overflows the stack once
// while it holds a few frames, so that the copy is cheap and the deep calls
// find room.
package growstack

// frame is the size of Grow's frame: with what the goroutine holds already,
// the runtime grows the stack to 16 KiB, the largest size it keeps cached
// per processor (larger stacks come from the shared heap, under a lock).
const frame = 12 << 10

// Grow grows the calling goroutine's stack to 16 KiB unless it is that large
// already.
//
// The frame is reserved by the function's entry check, which is what grows
// the stack; the buffer is only touched when never is set, so the 12 KiB are
// not cleared on every call (clearing them took a third of Grow's own
// time in a profile of the service under load).
//
//go:noinline
func Grow() {
	if never {
		var buf [frame]byte
		use(buf[:])
	}
}

// never is false; the compiler cannot know it, so Grow keeps its frame.
var never bool

// use keeps buf, and so Grow's frame, from being optimized away.
//
//go:noinline
func use([]byte) {}
