package app

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The Postgres store's cache follows the changes other processes make
// through LISTEN/NOTIFY on NotifyChannel, and reloads everything on a
// timer and after each reconnect.

// listenConn takes a connection out of the pool for good and LISTENs on it.
func (p *Postgres) listenConn(ctx context.Context) (*pgx.Conn, error) {
	pc, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("app store: connect: %w", err)
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("app store: listen: %w", err)
	}
	return conn, nil
}

// listen applies notifications until ctx is done, reloading everything
// every ReloadInterval and after each reconnect.
func (p *Postgres) listen(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
		}
	}()
	lastFull := time.Now()
	for {
		if conn == nil {
			if conn = p.reconnect(ctx); conn == nil {
				return
			}
			// Notifications sent while disconnected are lost.
			p.reloadAllLogged(ctx)
			lastFull = time.Now()
			p.signal("")
		}
		wctx, cancel := context.WithDeadline(ctx, lastFull.Add(p.cfg.ReloadInterval))
		n, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			if CheckID("app id", n.Payload) == nil {
				if err := p.reloadApp(ctx, n.Payload); err != nil && ctx.Err() == nil {
					p.cfg.Logger.Warn("app store: reload after notification failed", "app_id", n.Payload, "error", err)
				}
			} else {
				p.reloadAllLogged(ctx)
				lastFull = time.Now()
			}
			p.signal(n.Payload)
		case ctx.Err() != nil:
			return
		case timedOut && !conn.IsClosed():
			p.reloadAllLogged(ctx)
			lastFull = time.Now()
			p.signal("")
		default:
			p.cfg.Logger.Warn("app store: lost the notification connection; reconnecting", "error", err)
			_ = conn.Close(context.WithoutCancel(ctx))
			conn = nil
		}
	}
}

func (p *Postgres) signal(payload string) {
	if p.reloaded != nil {
		p.reloaded(payload)
	}
}

func (p *Postgres) reloadAllLogged(ctx context.Context) {
	if err := p.reloadAll(ctx); err != nil && ctx.Err() == nil {
		p.cfg.Logger.Warn("app store: reload failed", "error", err)
	}
}

// reconnect retries listenConn every RetryInterval until it succeeds or
// ctx is done (nil).
func (p *Postgres) reconnect(ctx context.Context) *pgx.Conn {
	t := time.NewTimer(p.cfg.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		conn, err := p.listenConn(ctx)
		if err == nil {
			p.cfg.Logger.Info("app store: notification connection restored")
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		p.cfg.Logger.Warn("app store: reconnect failed", "error", err)
		t.Reset(p.cfg.RetryInterval)
	}
}
