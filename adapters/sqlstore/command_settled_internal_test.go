package sqlstore

import (
	"fmt"
	"testing"
)

// The memory holds at most its capacity: the oldest outcomes go first, taken
// or not.
func TestSettledOutcomesBounded(t *testing.T) {
	s := newSettledOutcomes(3)
	s.remember([]ProcessedCommand{{"c1", "t1"}, {"c2", "t2"}})
	if got, ok := s.take("c2"); !ok || got != "t2" {
		t.Fatalf("take(c2) = %q, %v", got, ok)
	}
	for i := 3; i <= 6; i++ {
		s.remember([]ProcessedCommand{{fmt.Sprintf("c%d", i), fmt.Sprintf("t%d", i)}})
	}
	if len(s.aggregateOf) > 3 {
		t.Fatalf("%d outcomes kept, capacity 3", len(s.aggregateOf))
	}
	for _, gone := range []string{"c1", "c2", "c3"} {
		if got, ok := s.take(gone); ok {
			t.Errorf("take(%s) = %q after it was pushed out", gone, got)
		}
	}
	for i := 4; i <= 6; i++ {
		id := fmt.Sprintf("c%d", i)
		if got, ok := s.take(id); !ok || got != fmt.Sprintf("t%d", i) {
			t.Errorf("take(%s) = %q, %v", id, got, ok)
		}
	}
	if len(s.aggregateOf) != 0 {
		t.Fatalf("%d outcomes left after every one was taken", len(s.aggregateOf))
	}
}
