package transport

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// sqlWatcher finds the messages other processes publish, for every partition
// this process reads, with one query a poll interval: the largest offset of
// each partition's table. A partition whose largest offset grew wakes its
// subscriptions, which then read it as after a publish of this process.
//
// Without it, each partition of each handler polled on its own: with 16
// partitions, the 10 topics were 160 read transactions a poll interval, which
// on an idle service kept an eighth of a core busy in this process and as
// much in MySQL.
// Every subscription still polls on its own once every sqlSafetyPoll, so a
// message is never left waiting on the watcher alone. The watcher itself
// slows down while no partition grows (see pause): its query opens every
// table watched.
//
// A grown largest offset is all a subscription needs to hear: an empty poll
// read up to a high-water mark that every publish committed before it
// is under, and a publish that commits later raises the largest offset (an
// insert takes an offset larger than any already visible).
type sqlWatcher struct {
	transport *SQL
	interval  time.Duration

	mu         sync.Mutex
	partitions []string         // partition topics, in the order watched
	largest    map[string]int64 // partition topic → largest offset seen
	query      string           // for partitions; "" once they change

	started bool // under mu
	// stopping ends run and the round in flight; stop cancels it.
	stopping context.Context
	stop     context.CancelFunc
	done     chan struct{}
	failing  bool // the last round failed; touched by run only
}

// sqlSafetyPoll is about how often a subscription polls its partition while
// the watcher says nothing: a bound on what a missed wake-up could cost. Each
// pause is drawn between half and one and a half of it, so that the
// subscriptions, which start together, do not poll together.
const sqlSafetyPoll = time.Minute

// sqlDrainedRecheck is how long a partition whose batch read and handled
// everything up to its high-water mark waits for a wake-up before it looks
// again: a second look costs one query after a burst, and bounds what a
// batch whose commit failed unseen waits.
const sqlDrainedRecheck = time.Second

func newSQLWatcher(t *SQL, interval time.Duration) *sqlWatcher {
	stopping, stop := context.WithCancel(context.Background())
	return &sqlWatcher{
		transport: t,
		interval:  interval,
		largest:   map[string]int64{},
		stopping:  stopping,
		stop:      stop,
		done:      make(chan struct{}),
	}
}

// watch adds partition, a topic whose tables exist, and starts the watcher
// the first time. A partition already watched is left as it is.
func (w *sqlWatcher) watch(partition string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping.Err() != nil {
		return
	}
	if _, ok := w.largest[partition]; !ok {
		w.partitions = append(w.partitions, partition)
		// -1: the first round wakes it once, whatever its table holds.
		w.largest[partition] = -1
		w.query = ""
	}
	if !w.started {
		w.started = true
		go w.run()
	}
}

// close stops the watcher and waits for its round in flight, which its
// timeout bounds.
func (w *sqlWatcher) close() {
	w.mu.Lock()
	w.stop() // under mu: watch starts nothing after it
	started := w.started
	w.mu.Unlock()
	if started {
		<-w.done
	}
}

func (w *sqlWatcher) run() {
	defer close(w.done)
	lastGrowth := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-w.stopping.Done():
			return
		case <-timer.C:
		}
		if w.round(w.stopping) {
			lastGrowth = time.Now()
		}
		timer.Reset(w.pause(time.Since(lastGrowth)))
	}
}

// The watcher of a quiet transport slows down to every sqlMaxIdleRounds poll
// intervals, or every sqlMaxIdlePause if that is longer: the most the first
// message another process publishes after a long quiet waits.
const (
	sqlMaxIdleRounds = 10
	sqlMaxIdlePause  = time.Second
)

// pause is the wait before the next round when no partition has grown for
// quiet: the poll interval at first, a tenth of the quiet later, at most
// sqlMaxIdlePause (ten seconds of quiet, polled every second).
func (w *sqlWatcher) pause(quiet time.Duration) time.Duration {
	return min(max(quiet/sqlMaxIdleRounds, w.interval), max(sqlMaxIdleRounds*w.interval, sqlMaxIdlePause))
}

// round reads the largest offset of every partition watched, wakes those
// that grew and says whether any did. When the query fails, every partition
// is woken, so that the subscriptions poll as if there were no watcher until
// it answers again: as often as the watcher, which slows down as when quiet.
func (w *sqlWatcher) round(ctx context.Context) (grew bool) {
	partitions, query := w.snapshot()
	if len(partitions) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, sqlTransportBarrierTimeout)
	defer cancel()
	largest, err := w.readLargest(ctx, query, len(partitions))
	if err != nil {
		if w.stopping.Err() != nil {
			return false
		}
		if !w.failing {
			w.transport.logger.Error("Cannot read the largest offsets of the SQL transport's partitions; every subscription polls on its own until it can", err, watermill.LogFields{"partitions": len(partitions)})
		}
		w.failing = true
		for _, partition := range partitions {
			w.transport.wakeups.of(partition).signal()
		}
		return false
	}
	if w.failing {
		w.transport.logger.Info("Reading the largest offsets of the SQL transport's partitions again", nil)
		w.failing = false
	}
	var grown []string
	w.mu.Lock()
	for i, partition := range partitions {
		if largest[i] > w.largest[partition] {
			w.largest[partition] = largest[i]
			grown = append(grown, partition)
		}
	}
	w.mu.Unlock()
	for _, partition := range grown {
		w.transport.wakeups.of(partition).signal()
	}
	return len(grown) > 0
}

// snapshot is the partitions watched and the query of their largest
// offsets, built again only when they changed.
func (w *sqlWatcher) snapshot() ([]string, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.query == "" && len(w.partitions) > 0 {
		var q strings.Builder
		for i, partition := range w.partitions {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			// An index of its own on every row: UNION ALL promises no order.
			q.WriteString("SELECT " + strconv.Itoa(i) + ", MAX(`offset`) FROM " + w.transport.schema.MessagesTable(partition))
		}
		w.query = q.String()
	}
	return w.partitions[:len(w.partitions):len(w.partitions)], w.query
}

// readLargest runs query and returns each partition's largest offset, 0 for
// an empty table.
func (w *sqlWatcher) readLargest(ctx context.Context, query string, n int) ([]int64, error) {
	rows, err := w.transport.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	largest := make([]int64, n)
	for rows.Next() {
		var (
			i      int
			offset *int64
		)
		if err := rows.Scan(&i, &offset); err != nil {
			return nil, err
		}
		if i >= 0 && i < n && offset != nil {
			largest[i] = *offset
		}
	}
	return largest, rows.Err()
}
