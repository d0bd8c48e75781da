package transport

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

var _ Maintainer = (*RedisStream)(nil)

// redisStreamNames are the streams this process published to or subscribed
// to: those Clean trims.
type redisStreamNames struct{ names sync.Map }

func (n *redisStreamNames) add(stream string) { n.names.Store(stream, struct{}{}) }

func (n *redisStreamNames) each(fn func(stream string) bool) {
	n.names.Range(func(stream, _ any) bool { return fn(stream.(string)) })
}

// Clean trims each stream this process uses below the oldest entry one of
// its consumer groups still needs: the smallest of each group's pending
// entries (delivered, not acknowledged) and of its unread ones (after its
// last-delivered id). A stream without a group is left as it is: nobody has
// said which entries they need. Trimming is XTRIM MINID, so an entry a group
// needs is never trimmed, however large its backlog; groups only move forward,
// so a group that reads between the look and the trim loses nothing.
//
// With MaxLen set, a stream still longer than that is then cut to it whatever
// the groups need, and the entries some group had not read are reported
// as dropped.
func (t *RedisStream) Clean(ctx context.Context) (CleanReport, error) {
	report := newCleanReport()
	var errs []error
	t.streams.each(func(stream string) bool {
		removed, dropped, err := t.trimStream(ctx, stream)
		report.add(stream, removed, dropped)
		if err != nil {
			errs = append(errs, fmt.Errorf("redis streams: trimming %s: %w", stream, err))
		}
		return ctx.Err() == nil
	})
	return report, errors.Join(errs...)
}

func (t *RedisStream) trimStream(ctx context.Context, stream string) (removed, dropped int64, err error) {
	oldest, grouped, err := t.oldestNeeded(ctx, stream)
	if err != nil || !grouped {
		return 0, 0, err
	}
	if removed, err = t.client.XTrimMinID(ctx, stream, oldest.String()).Result(); err != nil {
		return 0, 0, err
	}
	if t.config.MaxLen <= 0 {
		return removed, 0, nil
	}
	capped, dropped, err := t.capStream(ctx, stream)
	return removed + capped, dropped, err
}

// oldestNeeded is the id of the oldest entry a group of stream still needs;
// grouped is false for a stream without groups, or none at all.
func (t *RedisStream) oldestNeeded(ctx context.Context, stream string) (oldest redisStreamID, grouped bool, err error) {
	groups, err := t.client.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return oldest, false, nil
		}
		return oldest, false, err
	}
	for i, group := range groups {
		last, err := parseRedisStreamID(group.LastDeliveredID)
		if err != nil {
			return oldest, false, err
		}
		needed := last.next()
		if group.Pending > 0 {
			// Read after the group's last-delivered id: an entry delivered
			// since then is past it, and one acknowledged since is not needed.
			pending, err := t.client.XPending(ctx, stream, group.Name).Result()
			if err != nil {
				return oldest, false, err
			}
			if pending.Count > 0 {
				lower, err := parseRedisStreamID(pending.Lower)
				if err != nil {
					return oldest, false, err
				}
				if lower.less(needed) {
					needed = lower
				}
			}
		}
		if i == 0 || needed.less(oldest) {
			oldest = needed
		}
	}
	return oldest, len(groups) > 0, nil
}

// capStream cuts stream to MaxLen entries. The length, the groups and the
// trim run in one transaction, so that the entries a group had not read,
// the last Lag of the stream, are counted exactly among those cut. A lag
// Redis cannot tell counts every entry cut as unread.
func (t *RedisStream) capStream(ctx context.Context, stream string) (removed, dropped int64, err error) {
	var (
		length *redis.IntCmd
		groups *redis.XInfoGroupsCmd
		trim   *redis.IntCmd
	)
	if _, err := t.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		length = pipe.XLen(ctx, stream)
		groups = pipe.XInfoGroups(ctx, stream)
		trim = pipe.XTrimMaxLen(ctx, stream, t.config.MaxLen)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	removed = trim.Val()
	if removed == 0 {
		return 0, 0, nil
	}
	var unread int64
	for _, group := range groups.Val() {
		if group.Lag < 0 {
			unread = length.Val()
			break
		}
		unread = max(unread, group.Lag)
	}
	return removed, max(0, removed-(length.Val()-unread)), nil
}

// redisStreamID is a stream entry's id, milliseconds and sequence.
type redisStreamID struct{ ms, seq uint64 }

func parseRedisStreamID(id string) (redisStreamID, error) {
	ms, seq, found := strings.Cut(id, "-")
	parsedMS, errMS := strconv.ParseUint(ms, 10, 64)
	parsedSeq, errSeq := strconv.ParseUint(seq, 10, 64)
	if !found || errMS != nil || errSeq != nil {
		return redisStreamID{}, fmt.Errorf("bad stream entry id %q", id)
	}
	return redisStreamID{ms: parsedMS, seq: parsedSeq}, nil
}

// next is the smallest id after id.
func (id redisStreamID) next() redisStreamID {
	if id.seq == ^uint64(0) {
		return redisStreamID{ms: id.ms + 1}
	}
	return redisStreamID{ms: id.ms, seq: id.seq + 1}
}

func (id redisStreamID) less(other redisStreamID) bool {
	return id.ms < other.ms || (id.ms == other.ms && id.seq < other.seq)
}

func (id redisStreamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}
