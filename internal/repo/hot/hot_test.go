package hot_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/hot"
	"github.com/flowrun/flowrun/internal/repo/memory"
	"github.com/flowrun/flowrun/internal/repo/repotest"
)

// client returns a client of the test Redis (scripts/test.sh starts it).
func client(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh, which starts Redis")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// newHot returns a Store under a prefix of its own.
func newHot(t testing.TB, rdb redis.UniversalClient, cfg hot.Config) *hot.Store {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	cfg.Prefix = "test:" + hex.EncodeToString(b[:]) + ":"
	s, err := hot.New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replay is what cmd/api replays logs into.
func replay() repo.ChatStore {
	s, err := memory.New(memory.Config{Capacity: 1, Conversations: 1, ChatBytes: 1 << 40})
	if err != nil {
		panic(err)
	}
	return s
}

func newCold(t testing.TB) *memory.Store {
	t.Helper()
	s, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// overlaid is async mode's chat store: writes go to cold, then hot;
// reads through the overlay.
type overlaid struct {
	repo.Writer
	repo.ChatReader
}

func compose(h *hot.Store, cold repo.ChatStore) overlaid {
	return overlaid{repo.ChatAfter(cold, h), repo.NewOverlay(h, replay, cold)}
}

// TestChatConformance runs the chat suite over the composition async mode
// uses, with a cold store that is always up to date.
func TestChatConformance(t *testing.T) {
	t.Parallel()
	rdb := client(t)
	repotest.ExerciseChat(t, func(t *testing.T) repotest.ChatStore {
		return compose(newHot(t, rdb, hot.Config{}), newCold(t))
	})
}

// TestHotOnlyConformance runs it with a cold store that has nothing of a
// conversation once hot holds it, as when the persister lags: every
// conversation read is answered by hot alone.
func TestHotOnlyConformance(t *testing.T) {
	t.Parallel()
	rdb := client(t)
	repotest.ExerciseChat(t, func(t *testing.T) repotest.ChatStore {
		h, cold := newHot(t, rdb, hot.Config{}), newCold(t)
		return overlaid{repo.ChatAfter(cold, h), repo.NewOverlay(h, replay, laggard{cold})}
	})
}

// laggard is a cold store that has not yet stored anything of a single
// conversation: only the lists, which the overlay reads from cold, see
// what was written.
type laggard struct{ repo.ChatReader }

func (laggard) Turn(context.Context, *repo.TurnParams) (*repo.Turn, error) {
	return nil, repo.ErrNotFound
}

func (laggard) ConversationGet(context.Context, string, string, string) (*repo.Conversation, error) {
	return nil, repo.ErrNotFound
}

func (laggard) MessageList(context.Context, *repo.MessageListParams) (*repo.MessageListResult, error) {
	return nil, repo.ErrNotFound
}

func (laggard) MessageGet(context.Context, string, string, string) (*repo.Message, error) {
	return nil, repo.ErrNotFound
}

func (laggard) VariableList(context.Context, *repo.VariableListParams) (*repo.VariableListResult, error) {
	return nil, repo.ErrNotFound
}

const app, user = "app-1", "user-1"

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

// turn returns the records of turn n of conversation conv: the
// conversation itself on turn 0, a message and a variable.
func turn(conv string, n int, at time.Time) *repo.Batch {
	b := &repo.Batch{
		Messages: []*repo.Message{{
			ID: repotest.NewID(), AppID: app, ConversationID: conv, User: user, WorkflowRunID: repotest.NewID(),
			Inputs: json.RawMessage(`{}`), Query: "q", Answer: "a", Status: repo.MessageNormal,
			CreatedAt: at, UpdatedAt: at, Seq: repo.Version(at),
		}},
		Variables: []*repo.ConversationVariable{{
			ID: "v1", ConversationID: conv, AppID: app, Name: "count", ValueType: "number",
			Value: json.RawMessage(jsonInt(n)), CreatedAt: t0, UpdatedAt: at, Seq: repo.Version(at),
		}},
	}
	if n == 0 {
		b.Conversations = []*repo.Conversation{{
			ID: conv, AppID: app, User: user, Name: "n", Inputs: json.RawMessage(`{}`), Status: "normal",
			CreatedAt: at, UpdatedAt: at, Seq: repo.Version(at),
		}}
	}
	return b
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestNextTurnSeesThisOne: with nothing in cold, a conversation's turns
// are all read back from hot, and its deletion hides it at once.
func TestNextTurnSeesThisOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHot(t, client(t), hot.Config{})
	var empty laggard
	o := repo.NewOverlay(h, replay, empty)
	conv := repotest.NewID()
	for n := range 3 {
		must(t, h.Write(ctx, turn(conv, n, t0.Add(time.Duration(n)*time.Second))))
	}
	tr, err := o.Turn(ctx, &repo.TurnParams{AppID: app, User: user, ConversationID: conv, History: 2})
	must(t, err)
	if tr.Messages != 3 || len(tr.History) != 2 || len(tr.Variables) != 1 || string(tr.Variables[0].Value) != "2" {
		t.Fatalf("turn = %d messages, %d history, variables %+v; want 3, 2, count=2", tr.Messages, len(tr.History), tr.Variables)
	}
	if _, err := o.Turn(ctx, &repo.TurnParams{AppID: "app-2", User: user, ConversationID: conv}); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("another app's turn: %v, want ErrNotFound", err)
	}
	del := *tr.Conversation
	del.Deleted, del.Seq = true, repo.Version(t0.Add(time.Minute))
	must(t, h.Write(ctx, &repo.Batch{Conversations: []*repo.Conversation{&del}}))
	if _, err := o.Turn(ctx, &repo.TurnParams{AppID: app, User: user, ConversationID: conv}); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("deleted conversation: %v, want ErrNotFound", err)
	}
	if n, err := h.Bytes(ctx, conv); err != nil || n <= 0 || n > 1024 {
		t.Fatalf("deleted conversation's log holds %d bytes (%v): want the tombstone alone", n, err)
	}
}

// TestSeed: records of a conversation hot does not hold do not make it
// held, and a turn of it reads cold, then seeds hot with the whole
// conversation, so the next turn sees its own records there.
func TestSeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, cold := newHot(t, client(t), hot.Config{}), newCold(t)
	conv := repotest.NewID()
	for n := range 3 {
		must(t, cold.Write(ctx, turn(conv, n, t0.Add(time.Duration(n)*time.Second))))
	}
	must(t, repo.ChatAfter(cold, h).Write(ctx, turn(conv, 3, t0.Add(3*time.Second))))
	if _, err := h.Log(ctx, conv); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("log of a conversation not held: %v, want ErrNotFound", err)
	}
	o := repo.NewOverlay(h, replay, cold)
	p := &repo.TurnParams{AppID: app, User: user, ConversationID: conv, History: 10}
	tr, err := o.Turn(ctx, p)
	must(t, err)
	if tr.Messages != 4 {
		t.Fatalf("cold turn: %d messages, want 4", tr.Messages)
	}
	// The next turn's records reach hot only: cold lags.
	next := turn(conv, 4, t0.Add(4*time.Second))
	must(t, h.Write(ctx, next))
	tr, err = o.Turn(ctx, p)
	must(t, err)
	if tr.Messages != 5 || tr.History[4].ID != next.Messages[0].ID || string(tr.Variables[0].Value) != "4" {
		t.Fatalf("after seeding: %d messages, last %s, count %s; want 5, %s, 4", tr.Messages, tr.History[4].ID, tr.Variables[0].Value, next.Messages[0].ID)
	}
	m, err := o.MessageGet(ctx, app, user, next.Messages[0].ID)
	must(t, err)
	if m.ConversationID != conv {
		t.Fatalf("message by id: conversation %s, want %s", m.ConversationID, conv)
	}
}

// TestOutgrown: a conversation that passes MaxBytes leaves the log for
// good (until it expires) and is read from cold, without seeding.
func TestOutgrown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, cold := newHot(t, client(t), hot.Config{MaxBytes: 4096}), newCold(t)
	w := repo.ChatAfter(cold, h)
	conv := repotest.NewID()
	for n := range 10 {
		must(t, w.Write(ctx, turn(conv, n, t0.Add(time.Duration(n)*time.Second))))
	}
	if _, err := h.Log(ctx, conv); !errors.Is(err, repo.ErrTooLarge) {
		t.Fatalf("log of an outgrown conversation: %v, want ErrTooLarge", err)
	}
	if n, _ := h.Bytes(ctx, conv); n != -1 {
		t.Fatalf("outgrown header = %d, want -1", n)
	}
	tr, err := repo.NewOverlay(h, replay, cold).Turn(ctx, &repo.TurnParams{AppID: app, User: user, ConversationID: conv})
	must(t, err)
	if tr.Messages != 10 {
		t.Fatalf("outgrown conversation: %d messages from cold, want 10", tr.Messages)
	}
	if _, err := h.Log(ctx, conv); !errors.Is(err, repo.ErrTooLarge) {
		t.Fatalf("outgrown conversation was seeded again: %v", err)
	}
}

// TestTTL: every write renews the log's time to live, and the message
// index expires with it.
func TestTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := client(t)
	h := newHot(t, rdb, hot.Config{TTL: time.Hour})
	conv := repotest.NewID()
	b := turn(conv, 0, t0)
	must(t, h.Write(ctx, b))
	keys, err := rdb.Keys(ctx, "test:*"+conv+"*").Result()
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("keys of the conversation: %v", keys)
	}
	for _, k := range append(keys, "*msg:"+b.Messages[0].ID) {
		ks, err := rdb.Keys(ctx, k).Result()
		must(t, err)
		for _, k := range ks {
			ttl, err := rdb.PTTL(ctx, k).Result()
			must(t, err)
			if ttl <= 59*time.Minute || ttl > time.Hour {
				t.Fatalf("TTL of %s = %v, want about an hour", k, ttl)
			}
		}
	}
}

// TestRedisDown: with Redis unreachable, reads fall back to cold and a
// write still reaches cold, reporting ErrUnavailable.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	h, cold := newHot(t, rdb, hot.Config{}), newCold(t)
	conv := repotest.NewID()
	if err := repo.ChatAfter(cold, h).Write(ctx, turn(conv, 0, t0)); !errors.Is(err, repo.ErrUnavailable) {
		t.Fatalf("write with Redis down: %v, want ErrUnavailable", err)
	}
	tr, err := repo.NewOverlay(h, replay, cold).Turn(ctx, &repo.TurnParams{AppID: app, User: user, ConversationID: conv})
	must(t, err)
	if tr.Messages != 1 {
		t.Fatalf("turn from cold: %d messages, want 1", tr.Messages)
	}
}

// TestForgedRecords: a batch that names another app's conversation
// cannot add to it through hot.
func TestForgedRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHot(t, client(t), hot.Config{})
	conv := repotest.NewID()
	must(t, h.Write(ctx, turn(conv, 0, t0)))
	forged := turn(conv, 1, t0.Add(time.Second))
	forged.Messages[0].AppID, forged.Variables[0].AppID = "app-2", "app-2"
	_ = h.Write(ctx, forged)
	tr, err := repo.NewOverlay(h, replay, laggard{}).Turn(ctx, &repo.TurnParams{AppID: app, User: user, ConversationID: conv, History: 10})
	must(t, err)
	if tr.Messages != 1 || string(tr.Variables[0].Value) != "0" {
		t.Fatalf("forged records reached the conversation: %d messages, count %s", tr.Messages, tr.Variables[0].Value)
	}
	if _, err := repo.NewOverlay(h, replay, laggard{}).Turn(ctx, &repo.TurnParams{AppID: "app-2", User: user, ConversationID: conv}); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("forging app reads the conversation: %v", err)
	}
}

// TestListsBeforeCold: a user's conversations changed within the window
// (created, continued, renamed, deleted) list as the complete store would
// list them while cold still has only the older ones, in every order and
// at every page size.
func TestListsBeforeCold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, cold, ref := newHot(t, client(t), hot.Config{}), newCold(t), newCold(t)
	both := func(b *repo.Batch) { must(t, cold.Write(ctx, b)); must(t, ref.Write(ctx, b)) }
	recent := func(b *repo.Batch) { must(t, h.Write(ctx, b)); must(t, ref.Write(ctx, b)) }
	now := time.Now().Truncate(time.Microsecond)
	var convs []*repo.Conversation
	// Six conversations persisted an hour ago, four new ones.
	for i := range 10 {
		at := now.Add(-time.Hour + time.Duration(i)*time.Minute)
		write := both
		if i >= 6 {
			at, write = now.Add(-time.Duration(10-i)*time.Second), recent
		}
		b := turn(repotest.NewID(), 0, at)
		b.Conversations[0].ID = b.Messages[0].ConversationID
		b.Variables[0].ConversationID = b.Messages[0].ConversationID
		write(b)
		convs = append(convs, b.Conversations[0])
	}
	// Recent changes to old ones: a turn, a rename, a deletion; and a
	// turn of a new one.
	recent(turn(convs[1].ID, 1, now.Add(-3*time.Second)))
	ren := *convs[2]
	ren.Name, ren.UpdatedAt, ren.Seq = "renamed", now.Add(-2*time.Second), repo.Version(now.Add(-2*time.Second))
	recent(&repo.Batch{Conversations: []*repo.Conversation{&ren}})
	del := *convs[3]
	del.Deleted, del.Seq = true, repo.Version(now.Add(-time.Second))
	recent(&repo.Batch{Conversations: []*repo.Conversation{&del}})
	recent(turn(convs[7].ID, 1, now))

	o := repo.NewOverlay(h, replay, cold)
	for _, by := range []string{repo.SortUpdatedDesc, repo.SortUpdatedAsc, repo.SortCreatedDesc, repo.SortCreatedAsc} {
		for limit := 1; limit <= 10; limit++ {
			p := &repo.ConversationListParams{AppID: app, User: user, Limit: limit, SortBy: by}
			for page := 0; ; page++ {
				want, err := ref.ConversationList(ctx, p)
				must(t, err)
				got, err := o.ConversationList(ctx, p)
				if err != nil {
					t.Fatalf("%s limit %d page %d: %v", by, limit, page, err)
				}
				if ids(got.Items) != ids(want.Items) || got.HasMore != want.HasMore {
					t.Fatalf("%s limit %d page %d after %s:\n got %s more=%v\nwant %s more=%v", by, limit, page, p.LastID, ids(got.Items), got.HasMore, ids(want.Items), want.HasMore)
				}
				for i, c := range got.Items {
					if c.Name != want.Items[i].Name || !c.UpdatedAt.Equal(want.Items[i].UpdatedAt) {
						t.Fatalf("%s: conversation %s = %s %v, want %s %v", by, c.ID, c.Name, c.UpdatedAt, want.Items[i].Name, want.Items[i].UpdatedAt)
					}
				}
				if !want.HasMore {
					break
				}
				p.LastID = want.Items[len(want.Items)-1].ID
			}
		}
	}
}

func ids(cs []*repo.Conversation) string {
	var s string
	for _, c := range cs {
		s += c.ID[:8] + " "
	}
	return s
}

// BenchmarkTurn measures what a turn of a ten-turn conversation costs
// the hot state: its Turn read through the overlay (one LRANGE and a
// replay) and its records' write (one pipelined script), against the
// test Redis; and a PING, the round trip's floor.
func BenchmarkTurn(b *testing.B) {
	ctx := context.Background()
	rdb := client(b)
	h := newHot(b, rdb, hot.Config{})
	o := repo.NewOverlay(h, replay, laggard{})
	conv := repotest.NewID()
	for n := range 10 {
		must(b, h.Write(ctx, turn(conv, n, t0.Add(time.Duration(n)*time.Second))))
	}
	p := &repo.TurnParams{AppID: app, User: user, ConversationID: conv, History: 10}
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := o.Turn(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		other := repotest.NewID()
		must(b, h.Write(ctx, turn(other, 0, t0)))
		b.ReportAllocs()
		i := 1
		for b.Loop() {
			// A fresh conversation every ten turns keeps the log short.
			if i%10 == 0 {
				other = repotest.NewID()
				must(b, h.Write(ctx, turn(other, 0, t0)))
			}
			must(b, h.Write(ctx, turn(other, i%10, t0.Add(time.Duration(i)*time.Second))))
			i++
		}
	})
	b.Run("ping", func(b *testing.B) {
		for b.Loop() {
			must(b, rdb.Ping(ctx).Err())
		}
	})
}
