package repotest

import (
	"slices"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/repo"
)

// testChatConversationPaging pages one user's conversations in every
// order and page size against a model of Dify's keyset paging: the next
// page holds what sorts strictly beyond the last item's value, so
// conversations tied with it are skipped.
func testChatConversationPaging(t *testing.T, s ChatStore) {
	const app, user = "app-1", "user-1"
	// created, updated (seconds): ties in both orders.
	times := [][2]int{{1, 10}, {1, 10}, {1, 12}, {3, 11}, {4, 14}, {5, 13}, {6, 9}}
	var convs []*repo.Conversation
	b := &repo.Batch{}
	for _, tm := range times {
		c := convFixture(app, user, sec(tm[0]))
		c.UpdatedAt, c.Seq = sec(tm[1]), repo.Version(sec(tm[1]))
		convs = append(convs, c)
		b.Conversations = append(b.Conversations, c)
	}
	// A turn moves conversation 3 to the front of -updated_at.
	b.Messages = append(b.Messages, msgFixture(convs[3], 1, sec(15)))
	convs[3] = bumped(convs[3], sec(15))
	// Never listed: a deleted conversation, another user's, another app's.
	gone := convFixture(app, user, sec(2))
	theirs := convFixture(app, "user-2", sec(2))
	elsewhere := convFixture("app-2", user, sec(2))
	b.Conversations = append(b.Conversations, gone, deleted(gone, sec(3)), theirs, elsewhere)
	write(t, s, b)

	for _, sortBy := range []string{repo.SortCreatedAsc, repo.SortCreatedDesc, repo.SortUpdatedAsc, repo.SortUpdatedDesc, ""} {
		key, desc, err := repo.ConversationSort(sortBy)
		if err != nil {
			t.Fatal(err)
		}
		beyond := func(a, b *repo.Conversation) bool {
			if desc {
				return key(a).Before(key(b))
			}
			return key(a).After(key(b))
		}
		sorted := slices.Clone(convs)
		slices.SortFunc(sorted, func(a, b *repo.Conversation) int {
			n := key(a).Compare(key(b))
			if n == 0 {
				n = strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID))
			}
			if desc {
				n = -n
			}
			return n
		})
		for _, limit := range []int{1, 2, 3, 5, 7, 100} {
			var last *repo.Conversation
			for pages := 0; ; pages++ {
				if pages > len(convs) {
					t.Fatalf("sort %q, limit %d: more pages than conversations", sortBy, limit)
				}
				rest := sorted
				p := &repo.ConversationListParams{AppID: app, User: user, Limit: limit, SortBy: sortBy}
				if last != nil {
					p.LastID = last.ID
					rest = slices.DeleteFunc(slices.Clone(sorted), func(c *repo.Conversation) bool { return !beyond(c, last) })
				}
				want := rest[:min(limit, len(rest))]
				wantMore := len(rest) > limit && beyond(rest[len(rest)-1], rest[limit-1])
				res, err := s.ConversationList(ctx(t), p)
				if err != nil {
					t.Fatalf("ConversationList(%+v): %v", *p, err)
				}
				requireConvs(t, want, res.Items)
				if res.HasMore != wantMore {
					t.Fatalf("sort %q, limit %d, page %d: has_more %v, want %v", sortBy, limit, pages+1, res.HasMore, wantMore)
				}
				if !res.HasMore {
					break
				}
				last = want[len(want)-1]
			}
		}
	}

	// The model's tie rules, spelled out. By updated_at, one page at a
	// time: of the two conversations updated at 10 s, the one with the
	// lower id comes first and the other is skipped.
	tied := []*repo.Conversation{convs[0], convs[1]}
	slices.SortFunc(tied, func(a, b *repo.Conversation) int {
		return strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID))
	})
	var got []*repo.Conversation
	last := ""
	for {
		res, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: app, User: user, Limit: 1, SortBy: repo.SortUpdatedAsc, LastID: last})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Items...)
		if !res.HasMore {
			break
		}
		last = res.Items[0].ID
	}
	requireConvs(t, []*repo.Conversation{convs[6], tied[0], convs[2], convs[5], convs[4], convs[3]}, got)
	// By -created_at, five to a page: the first page ends inside the tie
	// at 1 s, and nothing sorts strictly beyond it, so there is no more.
	res, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: app, User: user, Limit: 5, SortBy: repo.SortCreatedDesc})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 5 || res.HasMore {
		t.Fatalf("-created_at, limit 5: %d items, has_more %v; want 5, false", len(res.Items), res.HasMore)
	}
	// The default order is -updated_at, and the default limit 20.
	res, err = s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: app, User: user})
	if err != nil {
		t.Fatal(err)
	}
	requireConvs(t, []*repo.Conversation{convs[3], convs[4], convs[5], convs[2], tied[1], tied[0], convs[6]}, res.Items)

	// LastID must be one of the user's visible conversations.
	for _, id := range []string{gone.ID, theirs.ID, elsewhere.ID, NewID()} {
		_, err := s.ConversationList(ctx(t), &repo.ConversationListParams{AppID: app, User: user, LastID: id})
		requireErr(t, err, repo.ErrNotFound)
	}
}

// testChatMessagePaging pages a conversation's messages newest page
// first, each page oldest first.
func testChatMessagePaging(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	var ms []*repo.Message
	for i, at := range []int{1, 2, 3, 3, 5, 6, 7} {
		ms = append(ms, msgFixture(c, i, sec(at)))
	}
	// Messages 2 and 3 were created at the same instant: the lower id
	// sorts first.
	if strings.ToLower(ms[2].ID) > strings.ToLower(ms[3].ID) {
		ms[2].ID, ms[3].ID = ms[3].ID, ms[2].ID
	}
	other := convFixture("app-1", "user-1", sec(0))
	om := msgFixture(other, 1, sec(4))
	like := feedbackFixture(ms[4], c.User, "like", sec(10))
	withdrawn := rerated(feedbackFixture(ms[5], c.User, "dislike", sec(10)), "", sec(11))
	admin := feedbackFixture(ms[6], "", "dislike", sec(12))
	admin.FromSource = "admin"
	// Rated, withdrawn, rated again: the new rating has a new id.
	first := feedbackFixture(ms[0], c.User, "like", sec(10))
	again := feedbackFixture(ms[0], c.User, "dislike", sec(13))
	write(t, s, &repo.Batch{
		Conversations: []*repo.Conversation{c, other},
		Messages:      append([]*repo.Message{om}, ms...),
		Feedbacks:     []*repo.Feedback{like, withdrawn, admin, rerated(first, "", sec(12)), again},
	})
	page := func(firstID string, limit int) *repo.MessageListResult {
		t.Helper()
		return listMsgs(t, s, &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, FirstID: firstID, Limit: limit})
	}
	for _, tc := range []struct {
		first  string
		limit  int
		want   []*repo.Message
		more   bool
		attach map[string]*repo.Feedback
	}{
		{"", 2, ms[5:7], true, nil},
		{"", 6, ms[1:7], true, map[string]*repo.Feedback{ms[4].ID: like}},
		{"", 7, ms, false, map[string]*repo.Feedback{ms[4].ID: like, ms[0].ID: again}},
		{"", 0, ms, false, map[string]*repo.Feedback{ms[4].ID: like, ms[0].ID: again}},
		{ms[5].ID, 2, ms[3:5], true, map[string]*repo.Feedback{ms[4].ID: like}},
		{strings.ToUpper(ms[4].ID), 2, ms[2:4], true, nil},
		// Strictly older than the first message: its twin is skipped.
		{ms[3].ID, 5, ms[0:2], false, map[string]*repo.Feedback{ms[0].ID: again}},
		{ms[2].ID, 5, ms[0:2], false, map[string]*repo.Feedback{ms[0].ID: again}},
		{ms[0].ID, 5, nil, false, nil},
	} {
		res := page(tc.first, tc.limit)
		requireMsgs(t, tc.want, res.Items)
		requireAttached(t, tc.attach, res.Feedbacks)
		if res.HasMore != tc.more {
			t.Fatalf("first %s, limit %d: has_more %v, want %v", tc.first, tc.limit, res.HasMore, tc.more)
		}
	}
	// FirstID must be a message of the conversation.
	for _, id := range []string{om.ID, NewID(), "not-a-uuid"} {
		_, err := s.MessageList(ctx(t), &repo.MessageListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, FirstID: id, Limit: 5})
		requireErr(t, err, repo.ErrNotFound)
	}
}

func testChatVariablePaging(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	names := []string{"counter", "Country", "name", "nickname", "total_count"}
	var vs []*repo.ConversationVariable
	for i, at := range []int{1, 2, 2, 3, 4} {
		vs = append(vs, varFixture(c, "var-"+names[i], names[i], `"v0"`, sec(at)))
	}
	// Variables 1 and 2 were created at the same instant: the lower id
	// sorts first.
	if vs[1].ID > vs[2].ID {
		vs[1], vs[2] = vs[2], vs[1]
	}
	b := &repo.Batch{Conversations: []*repo.Conversation{c}, Variables: slices.Clone(vs)}
	// Later versions of one variable: the highest Seq wins, in any order.
	vs[3] = assigned(vs[3], `"v2"`, sec(20))
	b.Variables = append(b.Variables, vs[3], assigned(vs[3], `"v1"`, sec(10)))
	// Another conversation's variable with the same id.
	other := convFixture("app-1", "user-1", sec(0))
	b.Conversations = append(b.Conversations, other)
	b.Variables = append(b.Variables, varFixture(other, vs[0].ID, "counter", `"theirs"`, sec(1)))
	write(t, s, b)

	var coun []*repo.ConversationVariable // counter, Country, total_count
	for _, v := range vs {
		if strings.Contains(strings.ToLower(v.Name), "coun") {
			coun = append(coun, v)
		}
	}
	list := func(lastID, name string, limit int) *repo.VariableListResult {
		t.Helper()
		return listVars(t, s, &repo.VariableListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, LastID: lastID, Name: name, Limit: limit})
	}
	for _, tc := range []struct {
		last, name string
		limit      int
		want       []*repo.ConversationVariable
		more       bool
	}{
		{"", "", 0, vs, false},
		{"", "", 5, vs, false},
		{"", "", 2, vs[:2], true},
		// Strictly after LastID's creation: its twin is skipped.
		{vs[1].ID, "", 2, vs[3:], false},
		{vs[0].ID, "", 2, vs[1:3], true},
		{"", "COUN", 10, coun, false},
		{"", "COUN", 2, coun[:2], true},
		{"", "l_c", 10, []*repo.ConversationVariable{vs[4]}, false},
		// % and _ are literal.
		{"", "o_n", 10, nil, false},
		{"", "%", 10, nil, false},
	} {
		res := list(tc.last, tc.name, tc.limit)
		requireVars(t, tc.want, res.Items)
		if res.HasMore != tc.more {
			t.Fatalf("last %q, name %q, limit %d: has_more %v, want %v", tc.last, tc.name, tc.limit, res.HasMore, tc.more)
		}
	}
	// LastID must be one of the variables the name selects.
	for _, tc := range []struct{ last, name string }{{"nope", ""}, {vs[2].ID, "nick"}} {
		_, err := s.VariableList(ctx(t), &repo.VariableListParams{AppID: c.AppID, User: c.User, ConversationID: c.ID, LastID: tc.last, Name: tc.name})
		requireErr(t, err, repo.ErrNotFound)
	}
}

func testChatFeedbackList(t *testing.T, s ChatStore) {
	c := convFixture("app-1", "user-1", sec(0))
	gone := convFixture("app-1", "user-1", sec(0))
	elsewhere := convFixture("app-2", "user-1", sec(0))
	b := &repo.Batch{Conversations: []*repo.Conversation{c, gone, elsewhere}}
	var want []*repo.Feedback
	for i, at := range []int{1, 2, 3, 3, 4, 5, 6} {
		m := msgFixture(c, i, sec(i))
		f := feedbackFixture(m, c.User, "like", sec(at))
		b.Messages, b.Feedbacks = append(b.Messages, m), append(b.Feedbacks, f)
		if i == 5 {
			// Changed, then withdrawn.
			b.Feedbacks = append(b.Feedbacks, rerated(f, "dislike", sec(8)), rerated(f, "", sec(9)))
			continue
		}
		if i == 1 {
			f = rerated(f, "dislike", sec(7))
			b.Feedbacks = append(b.Feedbacks, f)
		}
		want = append(want, f)
	}
	for _, other := range []*repo.Conversation{gone, elsewhere} {
		m := msgFixture(other, 1, sec(1))
		b.Messages, b.Feedbacks = append(b.Messages, m), append(b.Feedbacks, feedbackFixture(m, other.User, "like", sec(20)))
	}
	b.Conversations = append(b.Conversations, deleted(gone, sec(30)))
	write(t, s, b)

	// Newest first, by CreatedAt, then id.
	slices.SortFunc(want, func(a, b *repo.Feedback) int {
		if n := b.CreatedAt.Compare(a.CreatedAt); n != 0 {
			return n
		}
		return strings.Compare(strings.ToLower(b.ID), strings.ToLower(a.ID))
	})
	requireFeedbacks(t, want, listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-1", Limit: 100}))
	requireFeedbacks(t, want, listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-1"}))
	var paged []*repo.Feedback
	for page := 1; page <= 4; page++ {
		got := listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-1", Page: page, Limit: 2})
		if len(got) > 2 {
			t.Fatalf("page %d holds %d items", page, len(got))
		}
		paged = append(paged, got...)
	}
	requireFeedbacks(t, want, paged)
	requireFeedbacks(t, want[:2], listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-1", Page: 0, Limit: 2}))
	requireFeedbacks(t, nil, listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-1", Page: 9, Limit: 2}))
	if got := listFeedback(t, s, &repo.FeedbackListParams{AppID: "app-2"}); len(got) != 1 || !got[0].CreatedAt.Equal(sec(20)) {
		t.Fatalf("app-2 feedback: %s", dump(got))
	}
}
