package async

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/repotest"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// TestConformance runs the repo conformance suite through the whole async
// path: Writer → Redis → an asynq server with the persister's handler →
// PostgreSQL. A Write returns once the persister has handled the batch, so
// the suite's read-after-write checks see what the persister stored (or
// the error it hit).
func TestConformance(t *testing.T) {
	t.Parallel()
	repotest.Exercise(t, func(t *testing.T) repo.Store { return throughQueue(t, reposql.New(dbtest.Pool(t))) })
}

// TestChatConformance runs the chat suite through the same path, with
// the persister's store (InsertFirst): chat records survive the wire and
// the persister's writes.
func TestChatConformance(t *testing.T) {
	t.Parallel()
	repotest.ExerciseChat(t, func(t *testing.T) repotest.ChatStore {
		return throughQueue(t, reposql.New(dbtest.Pool(t), reposql.InsertFirst()))
	})
}

// throughQueue returns a store whose writes go through a Writer, Redis and
// an asynq server with the persister's handler to sqlStore, and whose
// reads come from sqlStore.
func throughQueue(t *testing.T, sqlStore *reposql.Store) *viaQueue {
	t.Helper()
	b := setup(t)
	obs := &observed{next: sqlStore, done: make(chan error, 64)}
	srv := asynq.NewServer(redisOpt(t), asynq.Config{Queues: map[string]int{b.queue: 1}, Concurrency: 2,
		TaskCheckInterval: 5 * time.Millisecond, Logger: asynqQuiet{}, RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 10 * time.Millisecond }})
	if err := srv.Start(NewHandler(obs, quiet(), nil)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	w, err := New(b.client, Config{Queue: b.queue, FlushInterval: time.Millisecond, MaxRetry: 0})
	if err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	t.Cleanup(func() { w.Stop(context.Background()) })
	return &viaQueue{w: w, obs: obs, Store: sqlStore}
}

// observed wraps the persister's store and reports each batch's outcome.
type observed struct {
	next repo.Writer
	done chan error
}

func (o *observed) Write(ctx context.Context, b *repo.Batch) error {
	err := o.next.Write(ctx, b)
	o.done <- err
	return err
}

// viaQueue is a repo.Store whose writes go through the queue and whose
// reads come from PostgreSQL.
type viaQueue struct {
	*reposql.Store
	w   *Writer
	obs *observed
	mu  sync.Mutex // one write at a time, so outcomes pair with writes
}

func (v *viaQueue) Write(ctx context.Context, b *repo.Batch) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	// Invalid batches are refused before they reach the queue.
	if _, err := b.Prepare(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	if err := v.w.Write(ctx, b); err != nil {
		return err
	}
	select {
	case err := <-v.obs.done:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("persister did not handle the batch within 10 s")
	}
}
