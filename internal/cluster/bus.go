// Package cluster makes the behaviour of several api replicas that share
// Redis or PostgreSQL cluster-wide: a stop request reaches the replica
// that runs the task (Stopper, over a Bus), and the active-request limit
// counts every replica's runs (the limiters of packages viaredis and
// viapg).
//
// The package holds the transport-neutral protocol; viaredis (async mode:
// Redis pub/sub) and viapg (sync mode: PostgreSQL LISTEN/NOTIFY) carry it.
package cluster

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is returned by a Bus, or a Stopper, used after it was stopped.
var ErrClosed = errors.New("cluster: closed")

// Bus carries messages to every replica of a deployment. Delivery is at
// most once: a replica whose subscription is down misses what is
// published meanwhile (see Marker).
type Bus interface {
	// Publish sends msg to every subscribed replica, this one included,
	// and returns how many received it (-1: the transport cannot tell).
	Publish(ctx context.Context, msg []byte) (int, error)
	// Subscribe delivers every message published to deliver, on one
	// goroutine, until ctx is done; it returns only then (or on an
	// unrecoverable error). ready is called each time the subscription is
	// (re)established: messages published before that may have been
	// missed.
	Subscribe(ctx context.Context, deliver func([]byte), ready func()) error
}

// Marker is a Bus that can also leave a message for a task under a key
// that outlives a subscription gap: a replica that (re)subscribes reads
// the marks of the tasks it runs (Redis, like Dify's
// generate_task_stopped:{task_id} key).
type Marker interface {
	// Mark keeps msg under taskID for ttl.
	Mark(ctx context.Context, taskID string, msg []byte, ttl time.Duration) error
	// Marks returns the messages kept under taskIDs (those with none are
	// left out).
	Marks(ctx context.Context, taskIDs []string) ([][]byte, error)
}
