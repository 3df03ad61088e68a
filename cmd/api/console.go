package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/hibiken/asynq"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/console"
)

// newConsole builds the web console when CONSOLE_KEY or ADMIN_API_KEY is
// set (nil, nil otherwise): it opens with either key, never an app key.
func newConsole(cfg config, st *storage, apps app.Store, log *slog.Logger) (http.Handler, *console.Hub, error) {
	var keys []string
	for _, k := range []string{cfg.ConsoleKey, cfg.AdminAPIKey} {
		if k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil, nil
	}
	hub := console.NewHub(0)
	c, err := console.New(console.Config{
		Keys: keys, Apps: apps, Runs: st.reader, Summary: st.summary,
		Conversations: st.convs, Chats: st.chats, Queue: st.queue, Hub: hub, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	return c, hub, nil
}

// observer is the api's Observer: the console's hub, or none.
func observer(h *console.Hub) api.Observer {
	if h == nil {
		return nil
	}
	return h
}

// queueStats reads the persister's queue through asynq's Inspector.
type queueStats struct {
	insp  *asynq.Inspector
	queue string
}

// Stats implements console.Queue.
func (q queueStats) Stats(ctx context.Context) (*console.QueueStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, err := q.insp.GetQueueInfo(q.queue)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		// Nothing was ever enqueued: an empty queue.
		return &console.QueueStats{Queue: q.queue}, nil
	}
	if err != nil {
		return nil, err
	}
	return &console.QueueStats{
		Queue: info.Queue, Size: info.Size, Pending: info.Pending, Active: info.Active, Scheduled: info.Scheduled,
		Retry: info.Retry, Archived: info.Archived, Processed: info.Processed, Failed: info.Failed,
		Lag: info.Latency, Paused: info.Paused,
	}, nil
}
