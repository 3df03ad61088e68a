package repotest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/repo"
)

// chatScenario is every version of the chat records of a few
// conversations, and what a store must show once it has them all.
type chatScenario struct {
	// versions holds one record per batch, in the order they happened.
	versions []*repo.Batch
	// convs and msgs are probed by chatState (first versions: their ids,
	// apps and users).
	convs []*repo.Conversation
	msgs  []*repo.Message
	users [][2]string // app, user
	// check requires the final state.
	check func(t *testing.T, s ChatStore)
}

// newChatScenario: conversation A is renamed, its turns' messages change,
// its variables are assigned, its feedback is changed, withdrawn and
// given again; B is deleted and then receives late records; C belongs to
// another user and D to another app; E's own record never arrives.
func newChatScenario() *chatScenario {
	sc := &chatScenario{users: [][2]string{{"app-1", "user-1"}, {"app-1", "user-2"}, {"app-2", "user-1"}}}
	add := func(b *repo.Batch) { sc.versions = append(sc.versions, b) }
	conv := func(c *repo.Conversation) { add(&repo.Batch{Conversations: []*repo.Conversation{c}}) }
	msg := func(m *repo.Message) { add(&repo.Batch{Messages: []*repo.Message{m}}) }
	vr := func(v *repo.ConversationVariable) { add(&repo.Batch{Variables: []*repo.ConversationVariable{v}}) }
	fb := func(f *repo.Feedback) { add(&repo.Batch{Feedbacks: []*repo.Feedback{f}}) }

	a := convFixture("app-1", "user-1", sec(0))
	b := convFixture("app-1", "user-1", sec(2))
	c := convFixture("app-1", "user-2", sec(3))
	d := convFixture("app-2", "user-1", sec(4))
	e := convFixture("app-1", "user-1", sec(6))
	sc.convs = []*repo.Conversation{a, b, c, d, e}

	conv(a)
	am1 := msgFixture(a, 1, sec(1))
	msg(am1)
	av1, av2 := varFixture(a, "var-counter", "counter", `1`, sec(1)), varFixture(a, "var-name", "name", `"x"`, sec(1))
	vr(av1)
	vr(av2)
	conv(b)
	am1b := answered(am1, "final answer", sec(3))
	msg(am1b)
	bm1 := msgFixture(b, 1, sec(3))
	msg(bm1)
	vr(varFixture(b, "var-counter", "counter", `7`, sec(3)))
	conv(c)
	cm1 := msgFixture(c, 1, sec(4))
	msg(cm1)
	af1 := feedbackFixture(am1, a.User, "like", sec(4))
	fb(af1)
	fb(feedbackFixture(bm1, b.User, "like", sec(4)))
	conv(d)
	am2 := msgFixture(a, 2, sec(5))
	msg(am2)
	cf := feedbackFixture(cm1, c.User, "like", sec(5))
	fb(cf)
	dm1 := msgFixture(d, 1, sec(5))
	msg(dm1)
	em1 := msgFixture(e, 1, sec(6))
	msg(em1)
	vr(varFixture(e, "var-counter", "counter", `1`, sec(6)))
	fb(rerated(af1, "dislike", sec(6)))
	av1b := assigned(av1, `2`, sec(6))
	vr(av1b)
	fb(rerated(af1, "", sec(7)))
	af2 := feedbackFixture(am1, a.User, "like", sec(8))
	fb(af2)
	af3 := feedbackFixture(am2, a.User, "dislike", sec(9))
	fb(af3)
	a2 := renamed(a, "Tea talk", sec(10))
	conv(a2)
	am3 := msgFixture(a, 3, sec(20))
	msg(am3)
	av1c := assigned(av1, `3`, sec(21))
	vr(av1c)
	conv(deleted(b, sec(30)))
	bm2 := msgFixture(b, 2, sec(31))
	msg(bm2)
	fb(feedbackFixture(bm1, b.User, "dislike", sec(32)))
	conv(renamed(b, "after deletion", sec(33)))
	sc.msgs = []*repo.Message{am1, am2, am3, bm1, bm2, cm1, dm1, em1}

	sc.check = func(t *testing.T, s ChatStore) {
		t.Helper()
		wantA := bumped(a2, am3.CreatedAt)
		requireConv(t, wantA, getConv(t, s, a))
		page := listMsgs(t, s, &repo.MessageListParams{AppID: a.AppID, User: a.User, ConversationID: a.ID, Limit: 100})
		requireMsgs(t, []*repo.Message{am1b, am2, am3}, page.Items)
		requireAttached(t, map[string]*repo.Feedback{am1.ID: af2, am2.ID: af3}, page.Feedbacks)
		requireVars(t, []*repo.ConversationVariable{av1c, av2}, listVars(t, s, &repo.VariableListParams{AppID: a.AppID, User: a.User, ConversationID: a.ID}).Items)
		tr := turn(t, s, a, 2)
		requireConv(t, wantA, tr.Conversation)
		requireMsgs(t, []*repo.Message{am2, am3}, tr.History)
		if tr.Messages != 3 {
			t.Fatalf("Turn: %d messages, want 3", tr.Messages)
		}
		requireGone(t, s, b, bm1, bm2)
		requireGone(t, s, e, em1)
		requireConv(t, bumped(c, cm1.CreatedAt), getConv(t, s, c))
		requireConv(t, bumped(d, dm1.CreatedAt), getConv(t, s, d))
		requireFeedbacks(t, []*repo.Feedback{af3, af2, cf}, listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-1", Limit: 100}))
		requireFeedbacks(t, nil, listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-2", Limit: 100}))
		res, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: "app-1", User: "user-1"})
		if err != nil {
			t.Fatal(err)
		}
		requireConvs(t, []*repo.Conversation{wantA}, res.Items)
	}
	return sc
}

// chatState renders everything a reader can see of sc's records.
func chatState(t *testing.T, s ChatStore, sc *chatScenario) string {
	t.Helper()
	var out strings.Builder
	// line renders what a read returned: v(), or "not found".
	line := func(what string, err error, v func() any) {
		var got any = "not found"
		switch {
		case err == nil:
			got = v()
		case !errors.Is(err, repo.ErrNotFound):
			t.Fatalf("%s: %v", what, err)
		}
		fmt.Fprintf(&out, "%s: %s\n", what, dump(got))
	}
	for _, u := range sc.users {
		for _, by := range []string{repo.SortCreatedAsc, repo.SortCreatedDesc, repo.SortUpdatedAsc, repo.SortUpdatedDesc} {
			res, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: u[0], User: u[1], SortBy: by, Limit: 100})
			line("list "+u[0]+"/"+u[1]+" "+by, err, func() any { return []any{canonAll(res.Items, canonConv), res.HasMore} })
		}
	}
	for i, c := range sc.convs {
		got, err := s.ConversationGet(ctx(t), c.AppID, c.User, c.ID)
		line(fmt.Sprintf("conversation %d", i), err, func() any { return canonConv(got) })
		msgs, err := s.MessageList(ctx(t), &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, Limit: 100})
		line(fmt.Sprintf("messages %d", i), err, func() any {
			attached := map[string]repo.Feedback{}
			for id, f := range msgs.Feedbacks {
				attached[id] = canonFeedback(f)
			}
			return []any{canonAll(msgs.Items, canonMsg), attached, msgs.HasMore}
		})
		vars, err := s.VariableList(ctx(t), &repo.VariableListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, Limit: 100})
		line(fmt.Sprintf("variables %d", i), err, func() any { return []any{canonAll(vars.Items, canonVar), vars.HasMore} })
		tr, err := s.Turn(ctx(t), &repo.TurnParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, History: 2})
		line(fmt.Sprintf("turn %d", i), err, func() any {
			return []any{canonConv(tr.Conversation), tr.Messages, canonAll(tr.History, canonMsg), canonAll(tr.Variables, canonVar)}
		})
	}
	for i, m := range sc.msgs {
		got, err := s.MessageGet(ctx(t), m.AppID, m.User, m.ID)
		line(fmt.Sprintf("message %d", i), err, func() any { return canonMsg(got) })
	}
	for _, app := range []string{"app-1", "app-2"} {
		fs, err := s.FeedbackList(ctx(t), &repo.FeedbackListParams{AppID: app, Limit: 100})
		line("feedback "+app, err, func() any { return canonAll(fs, canonFeedback) })
	}
	return out.String()
}

// testChatConverge applies the scenario's versions in order, in reverse,
// and shuffled with repeats in random batches (once from concurrent
// writers), each into a fresh store: every store ends in the same state,
// the one the scenario requires.
func testChatConverge(t *testing.T, newStore func(*testing.T) ChatStore) {
	rng := rand.New(rand.NewPCG(testSeed(t), 0xc4a7))
	sc := newChatScenario()
	shuffled := func() []*repo.Batch {
		var pool []*repo.Batch
		for _, b := range sc.versions {
			for range 1 + rng.IntN(3) {
				pool = append(pool, b)
			}
		}
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		var out []*repo.Batch
		for len(pool) > 0 {
			k := min(1+rng.IntN(4), len(pool))
			b := &repo.Batch{}
			for _, r := range pool[:k] {
				b.Append(r)
			}
			out, pool = append(out, b), pool[k:]
		}
		return out
	}
	reversed := make([]*repo.Batch, len(sc.versions))
	for i, b := range sc.versions {
		reversed[len(reversed)-1-i] = b
	}
	orders := []struct {
		name    string
		batches []*repo.Batch
		writers int
	}{
		{"in order", sc.versions, 1},
		{"reversed", reversed, 1},
		{"shuffled", shuffled(), 1},
		{"shuffled, concurrent", shuffled(), 3},
	}
	var want string
	for i, o := range orders {
		s := newStore(t)
		writeAll(t, s, o.batches, o.writers)
		sc.check(t, s)
		got := chatState(t, s, sc)
		if i == 0 {
			want = got
			continue
		}
		if got != want {
			w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
			for j := range min(len(w), len(g)) {
				if w[j] != g[j] {
					t.Fatalf("%s: the state differs from %s's\nwant %s\n got %s", o.name, orders[0].name, w[j], g[j])
				}
			}
			t.Fatalf("%s: the state differs from %s's", o.name, orders[0].name)
		}
	}
}

// writeAll writes batches in order from one writer, or spread over
// several concurrent writers.
func writeAll(t *testing.T, s repo.Writer, batches []*repo.Batch, writers int) {
	t.Helper()
	work := make(chan *repo.Batch)
	errc := make(chan error, writers)
	for range writers {
		go func() {
			for b := range work {
				if err := s.Write(ctx(t), b); err != nil {
					errc <- err
					for range work {
					}
					return
				}
			}
			errc <- nil
		}()
	}
	for _, b := range batches {
		work <- b
	}
	close(work)
	for range writers {
		if err := <-errc; err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}
