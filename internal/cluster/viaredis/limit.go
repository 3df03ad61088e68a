package viaredis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flowrun/flowrun/internal/cluster"
)

// DefaultLease is how long a slot outlives its replica's last refresh
// when LimitConfig.Lease is zero.
const DefaultLease = 30 * time.Second

// LimitConfig configures a Limiter. Zero values take the defaults.
type LimitConfig struct {
	// Prefix starts every key (default DefaultPrefix): one hash of slots
	// per app, Prefix+"active:"+app id.
	Prefix string
	// Lease is how long a slot lives unless refreshed (default 30 s). The
	// replica refreshes its slots every Lease/3, so the slots of a
	// replica that died come back within Lease.
	Lease time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Limiter holds each app's active runs in a Redis hash, as Dify's
// RateLimit does (dify:rate_limit:{app}:active_requests): slot id to the
// time, in Redis's clock, when the slot expires. Taking a slot is one
// script call (one round trip): it counts the hash and, only when it is
// full, first drops the expired slots; releasing is one HDEL. The
// replica's own slots are refreshed in the background. It implements the
// api's Limiter; Start it, then Stop it (slots still held then expire
// within Lease).
type Limiter struct {
	rdb redis.UniversalClient
	cfg LimitConfig

	mu   sync.Mutex
	held map[string]map[string]struct{} // slots this replica holds, by app

	// Ticker refreshes the slots every Lease/3 between Start and Stop.
	*cluster.Ticker
}

// NewLimiter returns a Limiter on rdb.
func NewLimiter(rdb redis.UniversalClient, cfg LimitConfig) (*Limiter, error) {
	if cfg.Lease < 0 {
		return nil, errors.New("viaredis: LimitConfig.Lease must not be negative")
	}
	cfg.Prefix = cmp.Or(cfg.Prefix, DefaultPrefix)
	cfg.Lease = cmp.Or(cfg.Lease, DefaultLease)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Limiter{rdb: rdb, cfg: cfg, held: map[string]map[string]struct{}{}}
	l.Ticker = cluster.NewTicker(cfg.Lease/3, l.Refresh, cfg.Logger, "refreshing active-request slots")
	return l, nil
}

func (l *Limiter) key(appID string) string { return l.cfg.Prefix + "active:" + appID }

// acquireScript takes a slot. KEYS[1] is the app's hash; ARGV: the slot,
// the limit, the lease in milliseconds. It returns 1 when the slot was
// taken, 0 when the app is at its limit.
var acquireScript = redis.NewScript(`
local key, slot, limit, lease = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HLEN', key) >= limit then
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if tonumber(all[i + 1]) < now then
      redis.call('HDEL', key, all[i])
    end
  end
  if redis.call('HLEN', key) >= limit then
    return 0
  end
end
redis.call('HSET', key, slot, now + lease)
redis.call('PEXPIRE', key, lease)
return 1
`)

// refreshScript extends the slots ARGV[2:] of hash KEYS[1] that still
// exist by ARGV[1] milliseconds.
var refreshScript = redis.NewScript(`
local key, lease = KEYS[1], tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do
  if redis.call('HEXISTS', key, ARGV[i]) == 1 then
    redis.call('HSET', key, ARGV[i], now + lease)
  end
end
redis.call('PEXPIRE', key, lease)
return 0
`)

// Acquire implements the api's Limiter.
func (l *Limiter) Acquire(ctx context.Context, appID, slot string, limit int) (bool, error) {
	n, err := acquireScript.Run(ctx, l.rdb, []string{l.key(appID)}, slot, limit, l.cfg.Lease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redis acquire slot: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	l.mu.Lock()
	if l.held[appID] == nil {
		l.held[appID] = map[string]struct{}{}
	}
	l.held[appID][slot] = struct{}{}
	l.mu.Unlock()
	return true, nil
}

// Release implements the api's Limiter.
func (l *Limiter) Release(ctx context.Context, appID, slot string) error {
	l.mu.Lock()
	delete(l.held[appID], slot)
	if len(l.held[appID]) == 0 {
		delete(l.held, appID)
	}
	l.mu.Unlock()
	if err := l.rdb.HDel(ctx, l.key(appID), slot).Err(); err != nil {
		return fmt.Errorf("redis release slot: %w", err)
	}
	return nil
}

// Refresh extends the lease of every slot this replica holds now, in one
// pipeline (Start calls it every Lease/3).
func (l *Limiter) Refresh(ctx context.Context) error {
	l.mu.Lock()
	args := make(map[string][]any, len(l.held))
	for app, slots := range l.held {
		a := make([]any, 0, len(slots)+1)
		a = append(a, l.cfg.Lease.Milliseconds())
		for s := range slots {
			a = append(a, s)
		}
		args[app] = a
	}
	l.mu.Unlock()
	if len(args) == 0 {
		return nil
	}
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for app, a := range args {
			refreshScript.Eval(ctx, p, []string{l.key(app)}, a...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis refresh slots: %w", err)
	}
	return nil
}
