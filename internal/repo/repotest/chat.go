package repotest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
)

// ChatStore is a store of chat records, as ExerciseChat exercises it.
type ChatStore = repo.ChatStore

// ExerciseChat runs the conformance suite for chat records (see
// repo.Conversation). newStore returns a fresh, empty store; a subtest
// may ask for several (subtests run in parallel). A store with a
// capacity must hold at least 100 conversations.
func ExerciseChat(t *testing.T, newStore func(t *testing.T) ChatStore) {
	t.Helper()
	one := func(fn func(t *testing.T, s ChatStore)) func(*testing.T, func(*testing.T) ChatStore) {
		return func(t *testing.T, newStore func(*testing.T) ChatStore) { fn(t, newStore(t)) }
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore func(*testing.T) ChatStore)
	}{
		{"RoundTrip", one(testChatRoundTrip)},
		{"Converge", testChatConverge},
		{"DeletionIsFinal", one(testChatDeletion)},
		{"UpdatedAt", one(testChatUpdatedAt)},
		{"RenameRacesTurn", one(testChatRenameRace)},
		{"Ownership", one(testChatOwnership)},
		{"ConversationPaging", one(testChatConversationPaging)},
		{"MessagePaging", one(testChatMessagePaging)},
		{"VariablePaging", one(testChatVariablePaging)},
		{"FeedbackList", one(testChatFeedbackList)},
		{"Invalid", one(testChatInvalid)},
		{"Conflict", one(testChatConflict)},
		{"WithRunRecords", one(testChatWithRuns)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore)
		})
	}
}

// sec is baseTime plus n seconds.
func sec(n int) time.Time { return baseTime.Add(time.Duration(n) * time.Second) }

// convFixture builds the first version of a conversation of app and user,
// created at at.
func convFixture(app, user string, at time.Time) *repo.Conversation {
	return &repo.Conversation{
		ID:           NewID(),
		AppID:        app,
		User:         user,
		Name:         "What is in a name",
		Inputs:       json.RawMessage(`{"topic":"茶 <tea>","n":1.5,"tags":["a",null]}`),
		Introduction: "Hello, I help with tea.",
		Status:       "normal",
		CreatedAt:    at,
		UpdatedAt:    at,
		Seq:          repo.Version(at),
	}
}

// renamed returns a version of c renamed at at.
func renamed(c *repo.Conversation, name string, at time.Time) *repo.Conversation {
	r := *c
	r.Name, r.UpdatedAt, r.Seq = name, at, repo.Version(at)
	return &r
}

// deleted returns the version of c deleted at at.
func deleted(c *repo.Conversation, at time.Time) *repo.Conversation {
	r := *c
	r.Deleted, r.UpdatedAt, r.Seq = true, at, repo.Version(at)
	return &r
}

// msgFixture builds message i of conversation c, created at at.
func msgFixture(c *repo.Conversation, i int, at time.Time) *repo.Message {
	return &repo.Message{
		ID:             NewID(),
		AppID:          c.AppID,
		ConversationID: c.ID,
		User:           c.User,
		WorkflowRunID:  NewID(),
		Inputs:         c.Inputs,
		Query:          fmt.Sprintf("question %d", i),
		Answer:         fmt.Sprintf("answer %d: ünïcödé", i),
		Status:         repo.MessageNormal,
		Metadata:       json.RawMessage(fmt.Sprintf(`{"usage":{"total_tokens":%d},"retriever_resources":[]}`, 10+i)),
		Files:          json.RawMessage(`[{"type":"image","url":"https://x.test/a.png"}]`),
		MessageTokens:  int64(3 + i),
		AnswerTokens:   int64(7 + i),
		TotalPrice:     "0.0001200",
		Currency:       "USD",
		Latency:        1.25,
		CreatedAt:      at,
		UpdatedAt:      at.Add(time.Second),
		Seq:            repo.Version(at.Add(time.Second)),
	}
}

// answered returns a later version of m with another answer.
func answered(m *repo.Message, answer string, at time.Time) *repo.Message {
	r := *m
	r.Answer, r.UpdatedAt, r.Seq = answer, at, repo.Version(at)
	return &r
}

// varFixture builds variable id of conversation c with a JSON value,
// created at at.
func varFixture(c *repo.Conversation, id, name, value string, at time.Time) *repo.ConversationVariable {
	return &repo.ConversationVariable{
		ID:             id,
		ConversationID: c.ID,
		AppID:          c.AppID,
		Name:           name,
		ValueType:      "string",
		Description:    "the " + name,
		Value:          json.RawMessage(value),
		CreatedAt:      at,
		UpdatedAt:      at,
		Seq:            repo.Version(at),
	}
}

// assigned returns a later version of v with another value.
func assigned(v *repo.ConversationVariable, value string, at time.Time) *repo.ConversationVariable {
	r := *v
	r.Value, r.UpdatedAt, r.Seq = json.RawMessage(value), at, repo.Version(at)
	return &r
}

// feedbackFixture builds the user's rating of m, given at at.
func feedbackFixture(m *repo.Message, user, rating string, at time.Time) *repo.Feedback {
	return &repo.Feedback{
		ID:             NewID(),
		AppID:          m.AppID,
		ConversationID: m.ConversationID,
		MessageID:      m.ID,
		User:           user,
		Rating:         rating,
		Content:        "because " + rating,
		FromSource:     "user",
		CreatedAt:      at,
		UpdatedAt:      at,
		Seq:            repo.Version(at),
	}
}

// rerated returns a later version of f: another rating, or withdrawn
// when rating is "".
func rerated(f *repo.Feedback, rating string, at time.Time) *repo.Feedback {
	r := *f
	r.Rating, r.Deleted, r.UpdatedAt, r.Seq = rating, rating == "", at, repo.Version(at)
	return &r
}

// bumped returns c as stored once messages up to at were written.
func bumped(c *repo.Conversation, at time.Time) *repo.Conversation {
	r := *c
	if at.After(r.UpdatedAt) {
		r.UpdatedAt = at
	}
	return &r
}

func canonConv(c *repo.Conversation) repo.Conversation {
	r := *c
	r.ID = strings.ToLower(r.ID)
	r.Inputs = canonJSON(r.Inputs)
	r.CreatedAt, r.UpdatedAt = repo.NormalizeTime(r.CreatedAt), repo.NormalizeTime(r.UpdatedAt)
	return r
}

func canonMsg(m *repo.Message) repo.Message {
	r := *m
	r.ID, r.ConversationID, r.WorkflowRunID = strings.ToLower(r.ID), strings.ToLower(r.ConversationID), strings.ToLower(r.WorkflowRunID)
	r.Inputs, r.Metadata, r.Files = canonJSON(r.Inputs), canonJSON(r.Metadata), canonJSON(r.Files)
	r.CreatedAt, r.UpdatedAt = repo.NormalizeTime(r.CreatedAt), repo.NormalizeTime(r.UpdatedAt)
	return r
}

func canonVar(v *repo.ConversationVariable) repo.ConversationVariable {
	r := *v
	r.ConversationID = strings.ToLower(r.ConversationID)
	r.Value = canonJSON(r.Value)
	r.CreatedAt, r.UpdatedAt = repo.NormalizeTime(r.CreatedAt), repo.NormalizeTime(r.UpdatedAt)
	return r
}

func canonFeedback(f *repo.Feedback) repo.Feedback {
	r := *f
	r.ID, r.ConversationID, r.MessageID = strings.ToLower(r.ID), strings.ToLower(r.ConversationID), strings.ToLower(r.MessageID)
	r.CreatedAt, r.UpdatedAt = repo.NormalizeTime(r.CreatedAt), repo.NormalizeTime(r.UpdatedAt)
	return r
}

// canonAll applies canon to each record; nil stays nil.
func canonAll[T, C any](recs []*T, canon func(*T) C) []C {
	if len(recs) == 0 {
		return nil
	}
	out := make([]C, len(recs))
	for i, r := range recs {
		out[i] = canon(r)
	}
	return out
}

func requireSame(t *testing.T, what string, want, got any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s differs\nwant %s\n got %s", what, dump(want), dump(got))
	}
}

func requireConv(t *testing.T, want, got *repo.Conversation) {
	t.Helper()
	requireSame(t, "conversation "+want.ID, canonConv(want), canonConv(got))
}

func requireConvs(t *testing.T, want, got []*repo.Conversation) {
	t.Helper()
	requireSame(t, "conversations", canonAll(want, canonConv), canonAll(got, canonConv))
}

func requireMsgs(t *testing.T, want, got []*repo.Message) {
	t.Helper()
	requireSame(t, "messages", canonAll(want, canonMsg), canonAll(got, canonMsg))
}

func requireVars(t *testing.T, want, got []*repo.ConversationVariable) {
	t.Helper()
	requireSame(t, "variables", canonAll(want, canonVar), canonAll(got, canonVar))
}

func requireFeedbacks(t *testing.T, want, got []*repo.Feedback) {
	t.Helper()
	requireSame(t, "feedback", canonAll(want, canonFeedback), canonAll(got, canonFeedback))
}

// requireAttached checks a message page's feedback: want maps message ids
// to feedback.
func requireAttached(t *testing.T, want map[string]*repo.Feedback, got map[string]*repo.Feedback) {
	t.Helper()
	w, g := map[string]repo.Feedback{}, map[string]repo.Feedback{}
	for id, f := range want {
		w[strings.ToLower(id)] = canonFeedback(f)
	}
	for id, f := range got {
		g[id] = canonFeedback(f)
	}
	requireSame(t, "attached feedback", w, g)
}

func getConv(t *testing.T, s ChatStore, c *repo.Conversation) *repo.Conversation {
	t.Helper()
	got, err := s.ConversationGet(ctx(t), c.AppID, c.User, c.ID)
	if err != nil {
		t.Fatalf("ConversationGet(%s): %v", c.ID, err)
	}
	return got
}

func listMsgs(t *testing.T, s ChatStore, p *repo.MessageListParams) *repo.MessageListResult {
	t.Helper()
	res, err := s.MessageList(ctx(t), p)
	if err != nil {
		t.Fatalf("MessageList(%+v): %v", *p, err)
	}
	return res
}

func listVars(t *testing.T, s ChatStore, p *repo.VariableListParams) *repo.VariableListResult {
	t.Helper()
	res, err := s.VariableList(ctx(t), p)
	if err != nil {
		t.Fatalf("VariableList(%+v): %v", *p, err)
	}
	return res
}

func listFeedback(t *testing.T, s ChatStore, p *repo.FeedbackListParams) []*repo.Feedback {
	t.Helper()
	res, err := s.FeedbackList(ctx(t), p)
	if err != nil {
		t.Fatalf("FeedbackList(%+v): %v", *p, err)
	}
	return res
}

func turn(t *testing.T, s ChatStore, c *repo.Conversation, history int) *repo.Turn {
	t.Helper()
	res, err := s.Turn(ctx(t), &repo.TurnParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, History: history})
	if err != nil {
		t.Fatalf("Turn(%s): %v", c.ID, err)
	}
	return res
}

// requireGone checks that conversation c, and the messages given, are not
// found by any reader.
func requireGone(t *testing.T, s ChatStore, c *repo.Conversation, msgs ...*repo.Message) {
	t.Helper()
	_, err := s.ConversationGet(ctx(t), c.AppID, c.User, c.ID)
	requireErr(t, err, repo.ErrNotFound)
	_, err = s.Turn(ctx(t), &repo.TurnParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, History: 5})
	requireErr(t, err, repo.ErrNotFound)
	_, err = s.MessageList(ctx(t), &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, Limit: 20})
	requireErr(t, err, repo.ErrNotFound)
	_, err = s.VariableList(ctx(t), &repo.VariableListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, Limit: 20})
	requireErr(t, err, repo.ErrNotFound)
	for _, m := range msgs {
		_, err = s.MessageGet(ctx(t), m.AppID, c.User, m.ID)
		requireErr(t, err, repo.ErrNotFound)
	}
	res, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: c.AppID, User: c.User, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range res.Items {
		if it.ID == strings.ToLower(c.ID) {
			t.Fatalf("ConversationList lists conversation %s", c.ID)
		}
	}
}

func testChatRoundTrip(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	c.ID = strings.ToUpper(c.ID) // stored and returned in lower case
	m1 := msgFixture(c, 1, sec(1))
	m1.Status, m1.Error, m1.Answer = repo.MessageError, "model timed out", ""
	m1.Metadata, m1.Files, m1.WorkflowRunID, m1.TotalPrice, m1.Currency = nil, nil, "", "0", ""
	m2 := msgFixture(c, 2, sec(2))
	m2.WorkflowRunID = strings.ToUpper(m2.WorkflowRunID)
	m3 := msgFixture(c, 3, sec(3))
	v1 := varFixture(c, "var-topic", "topic", `"green tea"`, sec(1))
	v2 := varFixture(c, "var-count", "count", `3`, sec(2))
	v2.ValueType = "number"
	v3 := varFixture(c, "var-prefs", "prefs", `{"sugar":false,"cups":[1,2]}`, sec(3))
	v3.ValueType = "object"
	f := feedbackFixture(m2, c.User, "like", sec(4))
	write(t, s, &repo.Batch{
		Conversations: []*repo.Conversation{c},
		Messages:      []*repo.Message{m3, m1, m2},
		Variables:     []*repo.ConversationVariable{v3, v1, v2},
		Feedbacks:     []*repo.Feedback{f},
	})

	// The latest message's CreatedAt is the conversation's UpdatedAt.
	want := bumped(c, m3.CreatedAt)
	requireConv(t, want, getConv(t, s, c))
	lower := *c
	lower.ID = strings.ToLower(c.ID)
	requireConv(t, want, getConv(t, s, &lower))
	res, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: c.AppID, User: c.User})
	if err != nil {
		t.Fatal(err)
	}
	requireConvs(t, []*repo.Conversation{want}, res.Items)
	if res.HasMore {
		t.Fatal("ConversationList: has_more with one conversation")
	}

	for _, m := range []*repo.Message{m1, m2, m3} {
		got, err := s.MessageGet(ctx(t), c.AppID, c.User, strings.ToUpper(m.ID))
		if err != nil {
			t.Fatalf("MessageGet(%s): %v", m.ID, err)
		}
		requireMsgs(t, []*repo.Message{m}, []*repo.Message{got})
	}
	page := listMsgs(t, s, &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID})
	requireMsgs(t, []*repo.Message{m1, m2, m3}, page.Items)
	requireAttached(t, map[string]*repo.Feedback{m2.ID: f}, page.Feedbacks)
	if page.HasMore {
		t.Fatal("MessageList: has_more on the only page")
	}

	vars := listVars(t, s, &repo.VariableListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID})
	requireVars(t, []*repo.ConversationVariable{v1, v2, v3}, vars.Items)
	requireFeedbacks(t, []*repo.Feedback{f}, listFeedback(t, s, &repo.FeedbackListParams{AppID: c.AppID}))

	for _, tc := range []struct {
		history int
		want    []*repo.Message
	}{{0, nil}, {-1, nil}, {1, []*repo.Message{m3}}, {2, []*repo.Message{m2, m3}}, {50, []*repo.Message{m1, m2, m3}}} {
		tr := turn(t, s, c, tc.history)
		requireConv(t, want, tr.Conversation)
		if tr.Messages != 3 {
			t.Fatalf("Turn: %d messages, want 3", tr.Messages)
		}
		requireMsgs(t, tc.want, tr.History)
		requireVars(t, []*repo.ConversationVariable{v1, v2, v3}, tr.Variables)
	}

	// A conversation with nothing in it yet.
	empty := convFixture("app-1", "user-1", sec(5))
	empty.Inputs = nil
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{empty}})
	tr := turn(t, s, empty, 10)
	requireConv(t, empty, tr.Conversation)
	if tr.Messages != 0 || len(tr.History) != 0 || len(tr.Variables) != 0 {
		t.Fatalf("Turn of an empty conversation: %s", dump(tr))
	}
}

func testChatDeletion(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	m := msgFixture(c, 1, sec(1))
	v := varFixture(c, "v", "v", `"x"`, sec(1))
	f := feedbackFixture(m, c.User, "like", sec(2))
	other := convFixture("app-1", "user-1", sec(0))
	om := msgFixture(other, 1, sec(1))
	of := feedbackFixture(om, other.User, "dislike", sec(2))
	first := &repo.Batch{
		Conversations: []*repo.Conversation{c, other},
		Messages:      []*repo.Message{m, om},
		Variables:     []*repo.ConversationVariable{v},
		Feedbacks:     []*repo.Feedback{f, of},
	}
	write(t, s, first)
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{deleted(c, sec(10))}})
	requireGone(t, s, c, m)
	requireFeedbacks(t, []*repo.Feedback{of}, listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-1"}))
	// The other conversation is untouched.
	requireConv(t, bumped(other, om.CreatedAt), getConv(t, s, other))

	// Late records, a later rename and a replay of the first batch do not
	// bring it back.
	m2 := msgFixture(c, 2, sec(20))
	write(t, s, &repo.Batch{Messages: []*repo.Message{m2}})
	write(t, s, &repo.Batch{Variables: []*repo.ConversationVariable{assigned(v, `"y"`, sec(21))}})
	write(t, s, &repo.Batch{Feedbacks: []*repo.Feedback{feedbackFixture(m, c.User, "dislike", sec(22)), rerated(f, "dislike", sec(22))}})
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{renamed(c, "back?", sec(30))}})
	write(t, s, first)
	requireGone(t, s, c, m, m2)
	requireFeedbacks(t, []*repo.Feedback{of}, listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-1"}))

	// A deletion outranks every other version, even with a lower Seq,
	// and may arrive first.
	d := convFixture("app-1", "user-1", sec(40))
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{deleted(d, sec(39))}})
	dm := msgFixture(d, 1, sec(41))
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{d, renamed(d, "later", sec(50))}, Messages: []*repo.Message{dm}})
	requireGone(t, s, d, dm)

	// Deleting a conversation with its messages in the same batch.
	e := convFixture("app-1", "user-1", sec(60))
	em := msgFixture(e, 1, sec(61))
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{e, deleted(e, sec(62))}, Messages: []*repo.Message{em}})
	requireGone(t, s, e, em)

	// The other conversation's messages are all still there.
	res := listMsgs(t, s, &repo.MessageListParams{AppID: "app-1", User: "user-1", ConversationID: other.ID, Limit: 100})
	requireMsgs(t, []*repo.Message{om}, res.Items)
}

func testChatUpdatedAt(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{c}})
	m5 := msgFixture(c, 5, sec(5))
	write(t, s, &repo.Batch{Messages: []*repo.Message{m5}})
	requireConv(t, bumped(c, sec(5)), getConv(t, s, c))
	// An older message, and a later version of the newest, do not move it.
	write(t, s, &repo.Batch{Messages: []*repo.Message{msgFixture(c, 2, sec(2)), answered(m5, "final", sec(9))}})
	requireConv(t, bumped(c, sec(5)), getConv(t, s, c))

	// Messages that arrive before their conversation's record bump it
	// when it arrives; until then the conversation is not found.
	p := convFixture("app-1", "user-1", sec(0))
	pm := msgFixture(p, 1, sec(7))
	write(t, s, &repo.Batch{Messages: []*repo.Message{pm}})
	_, err := s.ConversationGet(ctx(t), p.AppID, p.User, p.ID)
	requireErr(t, err, repo.ErrNotFound)
	_, err = s.MessageGet(ctx(t), p.AppID, p.User, pm.ID)
	requireErr(t, err, repo.ErrNotFound)
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{p}})
	requireConv(t, bumped(p, sec(7)), getConv(t, s, p))
	requireMsgs(t, []*repo.Message{pm}, listMsgs(t, s, &repo.MessageListParams{AppID: p.AppID, User: p.User, ConversationID: p.ID}).Items)

	// A rename after the last message sets it; a rename that happened
	// before the last message (but arrives later) does not move it back.
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{renamed(p, "later", sec(9))}})
	requireConv(t, renamed(p, "later", sec(9)), getConv(t, s, p))
	q := convFixture("app-1", "user-1", sec(0))
	write(t, s, &repo.Batch{Messages: []*repo.Message{msgFixture(q, 1, sec(8))}})
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{q, renamed(q, "earlier", sec(3))}})
	requireConv(t, bumped(renamed(q, "earlier", sec(3)), sec(8)), getConv(t, s, q))

	// Versions of a message with different CreatedAt (a writer's
	// mistake): every version's counts, whichever wins, in either order.
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		x := convFixture("app-1", "user-3", sec(0))
		early := msgFixture(x, 1, sec(12))
		late := answered(early, "final", sec(14))
		late.CreatedAt = sec(11)
		vs := []*repo.Message{early, late}
		write(t, s, &repo.Batch{Conversations: []*repo.Conversation{x}})
		write(t, s, &repo.Batch{Messages: []*repo.Message{vs[order[0]]}})
		write(t, s, &repo.Batch{Messages: []*repo.Message{vs[order[1]]}})
		requireConv(t, bumped(x, sec(12)), getConv(t, s, x))
		requireMsgs(t, []*repo.Message{late}, listMsgs(t, s, &repo.MessageListParams{AppID: x.AppID, User: x.User, ConversationID: x.ID}).Items)
	}

	// The order of -updated_at follows the bumps.
	res, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: "app-1", User: "user-1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	requireConvs(t, []*repo.Conversation{renamed(p, "later", sec(9)), bumped(renamed(q, "earlier", sec(3)), sec(8)), bumped(c, sec(5))}, res.Items)
}

// testChatRenameRace: a turn writes only its message, so a rename that
// raced it stands, in whatever order the three versions arrive.
func testChatRenameRace(t *testing.T, s ChatStore) {
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, order := range orders {
		c := convFixture("app-1", "user-1", sec(0))
		m := msgFixture(c, 1, sec(3))
		r := renamed(c, "renamed", sec(4))
		batches := []*repo.Batch{
			{Conversations: []*repo.Conversation{c}},
			{Messages: []*repo.Message{m}},
			{Conversations: []*repo.Conversation{r}},
		}
		for _, i := range order {
			write(t, s, batches[i])
		}
		requireConv(t, r, getConv(t, s, c))
		later := msgFixture(c, 2, sec(6))
		write(t, s, &repo.Batch{Messages: []*repo.Message{later}})
		write(t, s, batches[0]) // a stale replay of the first version
		requireConv(t, bumped(r, sec(6)), getConv(t, s, c))
	}
}

func testChatOwnership(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	m := msgFixture(c, 1, sec(1))
	v := varFixture(c, "v", "v", `1`, sec(1))
	mine := convFixture("app-1", "user-2", sec(0))
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{c, mine}, Messages: []*repo.Message{m}, Variables: []*repo.ConversationVariable{v}})
	for _, who := range []struct{ app, user string }{{"app-2", c.User}, {c.AppID, "user-2"}, {c.AppID, ""}, {"", c.User}} {
		_, err := s.ConversationGet(ctx(t), who.app, who.user, c.ID)
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.MessageGet(ctx(t), who.app, who.user, m.ID)
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.MessageList(ctx(t), &repo.MessageListParams{AppID: who.app, User: who.user, ConversationID: c.ID})
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.VariableList(ctx(t), &repo.VariableListParams{AppID: who.app, User: who.user, ConversationID: c.ID})
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.Turn(ctx(t), &repo.TurnParams{AppID: who.app, User: who.user, ConversationID: c.ID, History: 3})
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: who.app, User: who.user, LastID: c.ID})
		requireErr(t, err, repo.ErrNotFound)
	}
	res, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: "app-1", User: "user-2"})
	if err != nil {
		t.Fatal(err)
	}
	requireConvs(t, []*repo.Conversation{mine}, res.Items)
	// Ids that are unknown or not UUIDs are not found either.
	for _, id := range []string{NewID(), "not-a-uuid", ""} {
		_, err := s.ConversationGet(ctx(t), c.AppID, c.User, id)
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.MessageGet(ctx(t), c.AppID, c.User, id)
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.Turn(ctx(t), &repo.TurnParams{AppID: c.AppID, User: c.User, ConversationID: id})
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.MessageList(ctx(t), &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: id})
		requireErr(t, err, repo.ErrNotFound)
		_, err = s.VariableList(ctx(t), &repo.VariableListParams{AppID: c.AppID, User: c.User, ConversationID: id})
		requireErr(t, err, repo.ErrNotFound)
		if id != "" {
			_, err = s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: c.AppID, User: c.User, LastID: id})
			requireErr(t, err, repo.ErrNotFound)
		}
	}
}

func testChatInvalid(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	m := msgFixture(c, 1, sec(1))
	withConv := func(b *repo.Batch) *repo.Batch {
		b.Conversations = append(b.Conversations, c)
		return b
	}
	mod := func(fn func(*repo.Conversation)) *repo.Conversation { r := *c; r.ID = NewID(); fn(&r); return &r }
	modMsg := func(fn func(*repo.Message)) *repo.Message { r := *m; fn(&r); return &r }
	modFb := func(fn func(*repo.Feedback)) *repo.Feedback {
		r := *feedbackFixture(m, c.User, "like", sec(2))
		fn(&r)
		return &r
	}
	modVar := func(fn func(*repo.ConversationVariable)) *repo.ConversationVariable {
		r := *varFixture(c, "v", "v", `1`, sec(1))
		fn(&r)
		return &r
	}
	for i, b := range []*repo.Batch{
		{Conversations: []*repo.Conversation{c, nil}},
		{Conversations: []*repo.Conversation{c, mod(func(r *repo.Conversation) { r.ID = "conv-1" })}},
		{Conversations: []*repo.Conversation{c, mod(func(r *repo.Conversation) { r.AppID = "" })}},
		{Conversations: []*repo.Conversation{c, mod(func(r *repo.Conversation) { r.Seq = -1 })}},
		{Conversations: []*repo.Conversation{c, mod(func(r *repo.Conversation) { r.Inputs = json.RawMessage(`{"a":`) })}},
		withConv(&repo.Batch{Messages: []*repo.Message{nil}}),
		withConv(&repo.Batch{Messages: []*repo.Message{modMsg(func(r *repo.Message) { r.ID = "m" })}}),
		withConv(&repo.Batch{Messages: []*repo.Message{modMsg(func(r *repo.Message) { r.ConversationID = "c" })}}),
		withConv(&repo.Batch{Messages: []*repo.Message{modMsg(func(r *repo.Message) { r.WorkflowRunID = "run-1" })}}),
		withConv(&repo.Batch{Messages: []*repo.Message{modMsg(func(r *repo.Message) { r.Metadata = json.RawMessage(`[`) })}}),
		withConv(&repo.Batch{Messages: []*repo.Message{modMsg(func(r *repo.Message) { r.AppID = "" })}}),
		withConv(&repo.Batch{Feedbacks: []*repo.Feedback{modFb(func(r *repo.Feedback) { r.MessageID = "m" })}}),
		withConv(&repo.Batch{Feedbacks: []*repo.Feedback{modFb(func(r *repo.Feedback) { r.ConversationID = "" })}}),
		withConv(&repo.Batch{Feedbacks: []*repo.Feedback{modFb(func(r *repo.Feedback) { r.ID = "" })}}),
		withConv(&repo.Batch{Variables: []*repo.ConversationVariable{modVar(func(r *repo.ConversationVariable) { r.ID = "" })}}),
		withConv(&repo.Batch{Variables: []*repo.ConversationVariable{modVar(func(r *repo.ConversationVariable) { r.ID = strings.Repeat("v", 256) })}}),
		withConv(&repo.Batch{Variables: []*repo.ConversationVariable{modVar(func(r *repo.ConversationVariable) { r.ConversationID = "c" })}}),
		withConv(&repo.Batch{Variables: []*repo.ConversationVariable{modVar(func(r *repo.ConversationVariable) { r.Value = json.RawMessage(`{x}`) })}}),
	} {
		if err := s.Write(ctx(t), b); !errors.Is(err, repo.ErrInvalid) {
			t.Fatalf("batch %d: err = %v, want ErrInvalid", i, err)
		}
	}
	// The batches are atomic: the valid conversation was not stored.
	_, err := s.ConversationGet(ctx(t), c.AppID, c.User, c.ID)
	requireErr(t, err, repo.ErrNotFound)

	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{c}})
	_, err = s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: c.AppID, User: c.User, SortBy: "name"})
	requireErr(t, err, repo.ErrInvalid)
	_, err = s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: c.AppID, User: c.User, Limit: -1})
	requireErr(t, err, repo.ErrInvalid)
	_, err = s.MessageList(ctx(t), &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, Limit: -1})
	requireErr(t, err, repo.ErrInvalid)
	_, err = s.VariableList(ctx(t), &repo.VariableListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, Limit: -1})
	requireErr(t, err, repo.ErrInvalid)
	_, err = s.FeedbackList(ctx(t), &repo.FeedbackListParams{AppID: c.AppID, Limit: -1})
	requireErr(t, err, repo.ErrInvalid)
	_, err = s.FeedbackList(ctx(t), &repo.FeedbackListParams{AppID: c.AppID, Page: -1})
	requireErr(t, err, repo.ErrInvalid)
}

func testChatConflict(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	c2 := convFixture("app-1", "user-1", sec(0))
	m := msgFixture(c, 1, sec(1))
	m2 := msgFixture(c2, 1, sec(1))
	f := feedbackFixture(m, c.User, "like", sec(2))
	v := varFixture(c, "v", "v", `1`, sec(1))
	write(t, s, &repo.Batch{Conversations: []*repo.Conversation{c, c2}, Messages: []*repo.Message{m, m2},
		Feedbacks: []*repo.Feedback{f}, Variables: []*repo.ConversationVariable{v}})

	fresh := convFixture("app-1", "user-1", sec(5))
	for name, b := range map[string]*repo.Batch{
		"conversation of another user": {Conversations: []*repo.Conversation{func() *repo.Conversation {
			r := renamed(c, "x", sec(9))
			r.User = "user-2"
			return r
		}()}},
		"conversation of another app, older": {Conversations: []*repo.Conversation{func() *repo.Conversation {
			r := *c
			r.AppID, r.Seq = "app-2", 0
			return &r
		}()}},
		"message moved to another conversation": {Messages: []*repo.Message{func() *repo.Message {
			r := answered(m, "x", sec(9))
			r.ConversationID = c2.ID
			return r
		}()}},
		"message of another app": {Messages: []*repo.Message{func() *repo.Message {
			r := answered(m, "x", sec(9))
			r.AppID = "app-2"
			return r
		}()}},
		"feedback moved to another message": {Feedbacks: []*repo.Feedback{func() *repo.Feedback {
			r := rerated(f, "dislike", sec(9))
			r.MessageID, r.ConversationID = m2.ID, c2.ID
			return r
		}()}},
		"variable of another app": {Variables: []*repo.ConversationVariable{func() *repo.ConversationVariable {
			r := assigned(v, `2`, sec(9))
			r.AppID = "app-2"
			return r
		}()}},
	} {
		b.Conversations = append(b.Conversations, fresh)
		if err := s.Write(ctx(t), b); !errors.Is(err, repo.ErrConflict) {
			t.Fatalf("%s: err = %v, want ErrConflict", name, err)
		}
	}
	// Nothing of those batches was stored.
	_, err := s.ConversationGet(ctx(t), fresh.AppID, fresh.User, fresh.ID)
	requireErr(t, err, repo.ErrNotFound)
	requireConv(t, bumped(c, m.CreatedAt), getConv(t, s, c))
	page := listMsgs(t, s, &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID})
	requireMsgs(t, []*repo.Message{m}, page.Items)
	requireAttached(t, map[string]*repo.Feedback{m.ID: f}, page.Feedbacks)
	requireVars(t, []*repo.ConversationVariable{v}, listVars(t, s, &repo.VariableListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID}).Items)
}

// testChatWithRuns: chat and run records written together are one
// batch: a conflict among the run records stores no chat record.
func testChatWithRuns(t *testing.T, s ChatStore) {
	r := runFixture("app-1", sec(0))
	c := convFixture("app-1", "user-1", sec(0))
	m := msgFixture(c, 1, sec(1))
	m.WorkflowRunID = r.ID
	l := logFixture(r)
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}, AppLogs: []*repo.AppLog{l}, Conversations: []*repo.Conversation{c}, Messages: []*repo.Message{m}})
	requireConv(t, bumped(c, m.CreatedAt), getConv(t, s, c))
	// Redelivered with a new message (a store that inserts logs first
	// falls back to its upserts).
	m2 := msgFixture(c, 2, sec(2))
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}, AppLogs: []*repo.AppLog{l}, Conversations: []*repo.Conversation{c}, Messages: []*repo.Message{m, m2}})
	requireMsgs(t, []*repo.Message{m, m2}, listMsgs(t, s, &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID}).Items)
	m = m2

	stolen := finish(r, repo.StatusSucceeded, 5)
	stolen.AppID = "app-2"
	c2 := convFixture("app-1", "user-1", sec(2))
	err := s.Write(ctx(t), &repo.Batch{Runs: []*repo.WorkflowRun{stolen}, Conversations: []*repo.Conversation{c2}, Messages: []*repo.Message{msgFixture(c, 2, sec(3))}})
	requireErr(t, err, repo.ErrConflict)
	_, err = s.ConversationGet(ctx(t), c2.AppID, c2.User, c2.ID)
	requireErr(t, err, repo.ErrNotFound)
	requireConv(t, bumped(c, m.CreatedAt), getConv(t, s, c))
}
