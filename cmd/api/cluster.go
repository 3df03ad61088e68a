package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/cluster"
	"github.com/flowrun/flowrun/internal/cluster/viapg"
	"github.com/flowrun/flowrun/internal/cluster/viaredis"
)

// clustered is what makes stop requests and APP_MAX_ACTIVE_REQUESTS
// cluster-wide in sync mode (PostgreSQL) and async mode (Redis). Memory
// mode is one process: it has none (zero value).
type clustered struct {
	stopper *cluster.Stopper
	limiter interface {
		api.Limiter
		Start(context.Context) error
		Stop(context.Context) error
	}
}

// openCluster builds the cluster-wide stop and limit of st's mode for
// instance id. In async mode their Redis keys and channel start with
// "flowrun:" and ASYNC_QUEUE: the replicas of one deployment share the
// queue their persister drains.
func openCluster(ctx context.Context, cfg config, st *storage, id string, log *slog.Logger) (clustered, error) {
	var (
		c   clustered
		bus cluster.Bus
		err error
	)
	switch {
	case st.rdb != nil:
		prefix := "flowrun:" + cfg.AsyncQueue + ":"
		bus = viaredis.NewBus(st.rdb, prefix)
		c.limiter, err = viaredis.NewLimiter(st.rdb, viaredis.LimitConfig{Prefix: prefix, Lease: cfg.ClusterSlotLease, Logger: log})
	case st.pool != nil:
		if bus, err = viapg.NewBus(ctx, st.pool); err != nil {
			return c, err
		}
		c.limiter, err = viapg.NewLimiter(st.pool, viapg.LimitConfig{InstanceID: id, Lease: cfg.ClusterSlotLease, Logger: log})
	default:
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("configuration: CLUSTER_SLOT_LEASE: %w", err)
	}
	c.stopper, err = cluster.NewStopper(bus, cluster.StopConfig{
		Origin: id, AckWait: cfg.ClusterStopAckWait, StopWait: cfg.ShutdownGrace / 2, Logger: log,
	})
	if err != nil {
		return c, fmt.Errorf("configuration: CLUSTER_STOP_ACK_WAIT: %w", err)
	}
	return c, nil
}

// apiConfig sets the server's Stopper and Limiter (left nil in memory
// mode: an interface holding a nil pointer is not nil).
func (c clustered) apiConfig(ac *api.Config) {
	if c.stopper != nil {
		ac.Stopper = c.stopper
	}
	if c.limiter != nil {
		ac.Limiter = c.limiter
	}
}

// start starts delivering other replicas' stop requests to srv and
// refreshing slot leases; the returned function stops both, once srv
// has drained.
func (c clustered) start(ctx context.Context, srv cluster.Holder) (stop func(context.Context) error, err error) {
	if c.stopper == nil {
		return func(context.Context) error { return nil }, nil
	}
	if err := c.stopper.Start(ctx, srv); err != nil {
		return nil, err
	}
	started := stops{c.stopper.Stop}
	if err := c.limiter.Start(ctx); err != nil {
		_ = started.stop(ctx)
		return nil, err
	}
	started.add(c.limiter.Stop)
	return started.stop, nil
}
