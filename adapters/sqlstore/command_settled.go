package sqlstore

import "sync"

// settledOutcomesKept bounds the outcomes remembered: more than the commands
// a process has in its handlers at once, which are taken within moments.
const settledOutcomesKept = 4096

// WithSettledOutcomes makes the log remember, for a moment, what this
// process's own mention transactions made of their commands, so that
// TakeSettledOutcome can tell it without a read. It is for a transport that
// delivers a command before its send returns, where every submission asks
// what became of its command right after the send.
func WithSettledOutcomes() CommandLogOption {
	return func(l *CommandLog) { l.settled = newSettledOutcomes(settledOutcomesKept) }
}

// TakeSettledOutcome reports the aggregate command id changed, when a
// transaction of this process processed it lately and committed; it tells
// each command once. Without WithSettledOutcomes, or for a command not
// remembered, ok is false and the command log is where to read it.
func (l *CommandLog) TakeSettledOutcome(id string) (aggregateID string, ok bool) {
	if l.settled == nil {
		return "", false
	}
	return l.settled.take(id)
}

// rememberProcessed notes commands a transaction of this process has just
// committed as processed.
func (l *CommandLog) rememberProcessed(commands []ProcessedCommand) {
	if l.settled != nil && len(commands) > 0 {
		l.settled.remember(commands)
	}
}

// settledOutcomes is a bounded memory of processed commands: when it is full,
// remembering one forgets the oldest, taken or not. A command a submission
// does not ask about (one sent by another producer, or sent again) is
// forgotten that way.
type settledOutcomes struct {
	mu          sync.Mutex
	aggregateOf map[string]string
	// ring holds the ids in the order remembered; next is the oldest's slot.
	ring []string
	next int
}

func newSettledOutcomes(capacity int) *settledOutcomes {
	return &settledOutcomes{aggregateOf: make(map[string]string, capacity), ring: make([]string, capacity)}
}

func (s *settledOutcomes) remember(commands []ProcessedCommand) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range commands {
		if oldest := s.ring[s.next]; oldest != "" {
			delete(s.aggregateOf, oldest)
		}
		s.ring[s.next] = c.CommandID
		s.aggregateOf[c.CommandID] = c.AggregateID
		s.next = (s.next + 1) % len(s.ring)
	}
}

func (s *settledOutcomes) take(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	aggregateID, ok := s.aggregateOf[id]
	if ok {
		// Its slot in the ring stays until it is reused; deleting an id
		// already taken then changes nothing.
		delete(s.aggregateOf, id)
	}
	return aggregateID, ok
}
