// Package viaredis carries flowrun's cluster-wide behaviour over Redis
// (async mode): a Bus of stop requests on pub/sub with keys that outlive a
// subscription gap, and the active-request Limiter.
package viaredis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flowrun/flowrun/internal/cluster"
)

// DefaultPrefix starts every key and channel when Config.Prefix is empty.
const DefaultPrefix = "flowrun:cluster:"

// resubscribeDelay paces new attempts after the subscription failed.
const resubscribeDelay = 200 * time.Millisecond

// Bus is a cluster.Bus and cluster.Marker on one Redis channel,
// Prefix+"stop", with marks under Prefix+"stopped:"+task id.
type Bus struct {
	rdb    redis.UniversalClient
	prefix string
}

var (
	_ cluster.Bus    = (*Bus)(nil)
	_ cluster.Marker = (*Bus)(nil)
)

// NewBus returns a Bus on rdb. Replicas of one deployment use the same
// prefix (default DefaultPrefix); deployments sharing a Redis database
// use different ones.
func NewBus(rdb redis.UniversalClient, prefix string) *Bus {
	return &Bus{rdb: rdb, prefix: cmp.Or(prefix, DefaultPrefix)}
}

func (b *Bus) channel() string { return b.prefix + "stop" }

func (b *Bus) markKey(taskID string) string { return b.prefix + "stopped:" + taskID }

// Publish implements cluster.Bus: PUBLISH reports its receivers, every
// subscribed replica (on a Redis Cluster, those of the node only).
func (b *Bus) Publish(ctx context.Context, msg []byte) (int, error) {
	n, err := b.rdb.Publish(ctx, b.channel(), msg).Result()
	if err != nil {
		return 0, fmt.Errorf("redis publish: %w", err)
	}
	return int(n), nil
}

// Subscribe implements cluster.Bus. go-redis resubscribes after a broken
// connection; each (re)subscription calls ready.
func (b *Bus) Subscribe(ctx context.Context, deliver func([]byte), ready func()) error {
	ps := b.rdb.Subscribe(ctx)
	defer ps.Close()
	// Receive does not return when ctx ends while it waits on the
	// connection: closing the subscription ends the wait.
	unwatch := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer unwatch()
	if err := ps.Subscribe(ctx, b.channel()); err != nil {
		return fmt.Errorf("redis subscribe: %w", err)
	}
	for {
		v, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, redis.ErrClosed) {
				return fmt.Errorf("redis subscription: %w", cluster.ErrClosed)
			}
			t := time.NewTimer(resubscribeDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		switch m := v.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				ready()
			}
		case *redis.Message:
			deliver([]byte(m.Payload))
		}
	}
}

// Mark implements cluster.Marker.
func (b *Bus) Mark(ctx context.Context, taskID string, msg []byte, ttl time.Duration) error {
	if err := b.rdb.Set(ctx, b.markKey(taskID), msg, ttl).Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// Marks implements cluster.Marker.
func (b *Bus) Marks(ctx context.Context, taskIDs []string) ([][]byte, error) {
	keys := make([]string, len(taskIDs))
	for i, id := range taskIDs {
		keys[i] = b.markKey(id)
	}
	vals, err := b.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("redis mget: %w", err)
	}
	var out [][]byte
	for _, v := range vals {
		if s, ok := v.(string); ok {
			out = append(out, []byte(s))
		}
	}
	return out, nil
}
