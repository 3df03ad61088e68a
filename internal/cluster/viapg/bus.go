// Package viapg carries flowrun's cluster-wide behaviour over PostgreSQL
// (sync mode, which needs no Redis): a Bus of stop requests on
// LISTEN/NOTIFY, and the active-request Limiter on a table of leased
// slots.
package viapg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/cluster"
)

// reconnectDelay paces new attempts after the listening connection broke.
const reconnectDelay = 200 * time.Millisecond

// Bus is a cluster.Bus on a NOTIFY channel named after the schema the
// pool uses (flowrun_stop_ and a digest of current_schema()), so that
// deployments in different schemas of one database do not hear each
// other. It is not a cluster.Marker: a replica whose listening connection
// is down misses the stops sent meanwhile, which then answer as a stop of
// an unknown task does.
type Bus struct {
	pool    *pgxpool.Pool
	channel string
}

var _ cluster.Bus = (*Bus)(nil)

// NewBus returns a Bus on pool.
func NewBus(ctx context.Context, pool *pgxpool.Pool) (*Bus, error) {
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, fmt.Errorf("viapg: reading the schema: %w", err)
	}
	h := sha256.Sum256([]byte(schema))
	return &Bus{pool: pool, channel: "flowrun_stop_" + hex.EncodeToString(h[:8])}, nil
}

// Publish implements cluster.Bus. The listening connections carry the
// channel as their application_name, so the receivers are counted in
// pg_stat_activity in the same statement.
func (b *Bus) Publish(ctx context.Context, msg []byte) (int, error) {
	var n int
	err := b.pool.QueryRow(ctx, `SELECT (SELECT count(*)::int FROM pg_stat_activity
	WHERE datname = current_database() AND application_name = $1) FROM pg_notify($1, $2)`, b.channel, string(msg)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("notify: %w", err)
	}
	return n, nil
}

// Subscribe implements cluster.Bus on a connection taken out of the pool
// for good; it reconnects after the connection breaks.
func (b *Bus) Subscribe(ctx context.Context, deliver func([]byte), ready func()) error {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		if conn == nil {
			c, err := b.listen(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				t := time.NewTimer(reconnectDelay)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
				continue
			}
			conn = c
			ready()
		}
		n, err := conn.WaitForNotification(ctx)
		switch {
		case err == nil:
			deliver([]byte(n.Payload))
		case ctx.Err() != nil:
			return nil
		default:
			_ = conn.Close(context.WithoutCancel(ctx))
			conn = nil
		}
	}
}

// listen takes a connection out of the pool and LISTENs on it.
func (b *Bus) listen(ctx context.Context) (*pgx.Conn, error) {
	pc, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("viapg: connect: %w", err)
	}
	conn := pc.Hijack()
	// The channel is an identifier made here: hex digits and underscores.
	if _, err := conn.Exec(ctx, `SET application_name = '`+b.channel+`'; LISTEN `+b.channel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("viapg: listen: %w", err)
	}
	return conn, nil
}
