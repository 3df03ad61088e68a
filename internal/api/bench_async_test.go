package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/async"
	"github.com/flowrun/flowrun/internal/repo/hot"
	"github.com/flowrun/flowrun/internal/repo/memory"
)

// asyncChats configures c as cmd/api's async mode does, over the test
// Redis (records are queued for a persister that is not running; the
// queue is deleted at the end): the records go through the async writer
// and then the hot chat state, and chat reads go through the overlay
// (cold is an in-memory store: a conversation the benchmark continues is
// always hot).
func asyncChats(b *testing.B) func(*api.Config) {
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		b.Skip("TEST_REDIS_URL is not set: run with scripts/test.sh's services")
	}
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		b.Fatal(err)
	}
	queue := fmt.Sprintf("bench-chat-%d", time.Now().UnixNano())
	client, insp := asynq.NewClient(opt), asynq.NewInspector(opt)
	w, err := async.New(client, async.Config{Queue: queue})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	ropt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(ropt)
	h, err := hot.New(rdb, hot.Config{Prefix: queue + ":"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		w.Stop(context.Background())
		insp.DeleteQueue(queue, true)
		keys, _ := rdb.Keys(context.Background(), queue+":*").Result()
		for _, k := range keys {
			rdb.Del(context.Background(), k)
		}
		rdb.Close()
		client.Close()
		insp.Close()
	})
	recent, _ := memory.New(memory.Config{})
	cold, _ := memory.New(memory.Config{})
	replay := func() repo.ChatStore {
		s, _ := memory.New(memory.Config{Capacity: 1, Conversations: 1, ChatBytes: 1 << 40})
		return s
	}
	return func(c *api.Config) {
		c.Logger = slog.New(slog.DiscardHandler)
		c.Records, c.Reader = record.Async(repo.ChatAfter(w, h), record.AsyncConfig{Mirror: recent}), repo.Fallback(recent, recent)
		c.Chats = repo.NewOverlay(h, replay, cold)
	}
}

// BenchmarkChatTurnModes compares a conversation's next turns in memory
// mode and in async mode (hot chat state in Redis), chain3 as a chatflow,
// ten turns per conversation, blocking, in-process. "seq" alternates one
// turn of each mode, so both see the same machine, and reports each
// mode's p50 and their ratio; "par" runs 8 concurrent clients per mode,
// one mode after the other, for throughput (turns/s).
func BenchmarkChatTurnModes(b *testing.B) {
	modes := []struct {
		name string
		srv  http.Handler
	}{
		{"memory", setup(b, options{mutate: func(c *api.Config) { c.Logger = slog.New(slog.DiscardHandler) }}).srv},
		{"async", setup(b, options{mutate: asyncChats(b)}).srv},
	}
	turn := func(srv http.Handler, conv string) string {
		body := `{"query": "hello", "inputs": {"query": "hello"}, "response_mode": "blocking", "user": "bench", "conversation_id": "` + conv + `"}`
		req := httptest.NewRequest(http.MethodPost, "/v1/chat-messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+chain3ChatKey)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var out struct {
			ID string `json:"conversation_id"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			b.Fatalf("turn: %d %s", rec.Code, rec.Body)
		}
		return out.ID
	}
	b.Run("seq", func(b *testing.B) {
		lats := []*latencies{newLatencies(b), newLatencies(b)}
		convs := make([]string, len(modes))
		i := 0
		for b.Loop() {
			for m, mode := range modes {
				if i%10 == 0 {
					convs[m] = turn(mode.srv, "")
					continue
				}
				start := time.Now()
				turn(mode.srv, convs[m])
				lats[m].add(time.Since(start))
			}
			i++
		}
		p := []float64{lats[0].p50(), lats[1].p50()}
		b.ReportMetric(p[0], "memory-p50-ns")
		b.ReportMetric(p[1], "async-p50-ns")
		if p[0] > 0 {
			b.ReportMetric(p[1]/p[0], "async/memory-p50")
		}
	})
	for _, mode := range modes {
		b.Run("par/"+mode.name, func(b *testing.B) {
			b.SetParallelism(4) // 8 clients on 2 cores
			var n atomic.Int64
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				conv, i := "", 0
				for pb.Next() {
					if i%10 == 0 {
						conv = ""
					}
					conv = turn(mode.srv, conv)
					i++
					n.Add(1)
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "turns/s")
		})
	}
}
