package memory

import (
	"cmp"
	"container/list"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/flowrun/flowrun/internal/repo"
)

// Defaults for the chat bounds of Config left zero.
const (
	// DefaultConversations is the number of conversations kept.
	DefaultConversations = 10000
	// DefaultChatBytes is the memory the kept conversations may hold
	// (32 MiB).
	DefaultChatBytes = 32 << 20
)

// chats holds chat records (see repo.Conversation). Conversations are
// kept whole, with their messages, variables and feedback; when a bound
// is passed, the conversation written least recently goes, everything in
// it with it.
type chats struct {
	capacity int
	maxBytes int64

	mu    sync.RWMutex
	convs map[string]*conv           // by conversation id
	users map[string]map[*conv]bool  // by userKey: the user's conversations
	msgs  map[string]*conv           // message id → its conversation
	apps  map[string]map[string]bool // app id → ids of conversations with feedback
	lru   list.List                  // of *conv, least recently written first
	bytes int64
}

// conv is one conversation and everything in it; any record may arrive
// first.
type conv struct {
	id   string
	rec  *repo.Conversation // nil until its record arrives
	msgs []*repo.Message    // by CreatedAt, then ID
	vars map[string]*repo.ConversationVariable
	// feedback by message id.
	feedback map[string]*repo.Feedback
	elem     *list.Element
	bytes    int64
}

func userKey(appID, user string) string { return appID + "\x00" + user }

func newChats(capacity int, maxBytes int64) *chats {
	return &chats{
		capacity: cmp.Or(capacity, DefaultConversations),
		maxBytes: cmp.Or(maxBytes, DefaultChatBytes),
		convs:    map[string]*conv{},
		users:    map[string]map[*conv]bool{},
		msgs:     map[string]*conv{},
		apps:     map[string]map[string]bool{},
	}
}

// apply stores b's chat records; b has been prepared.
func (c *chats) apply(b *repo.Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range b.Conversations {
		cv := c.get(r.ID)
		if cv.rec != nil && !repo.SupersedesChat(r.Deleted, r.Seq, cv.rec.Deleted, cv.rec.Seq) {
			continue
		}
		if cv.rec == nil {
			m := c.users[userKey(r.AppID, r.User)]
			if m == nil {
				m = map[*conv]bool{}
				c.users[userKey(r.AppID, r.User)] = m
			}
			m[cv] = true
		} else if cv.rec.UpdatedAt.After(r.UpdatedAt) {
			r.UpdatedAt = cv.rec.UpdatedAt // a later turn's
		}
		delta := convSize(r) - convSize(cv.rec)
		cv.rec = r
		if r.Deleted {
			delta -= c.clear(cv)
		}
		c.touch(cv, delta)
	}
	for _, m := range b.Messages {
		cv := c.get(m.ConversationID)
		if cv.deleted() {
			continue
		}
		i, found := slices.BinarySearchFunc(cv.msgs, m, msgOrder)
		delta := msgSize(m)
		if !found {
			if old := c.msgs[m.ID]; old != nil {
				continue // an id of another conversation: never moves
			}
			cv.msgs = slices.Insert(cv.msgs, i, m)
			c.msgs[m.ID] = cv
		} else if m.Seq > cv.msgs[i].Seq {
			delta -= msgSize(cv.msgs[i])
			cv.msgs[i] = m
		} else {
			continue
		}
		if cv.rec != nil && m.CreatedAt.After(cv.rec.UpdatedAt) {
			r := *cv.rec
			r.UpdatedAt = m.CreatedAt
			cv.rec = &r
		}
		c.touch(cv, delta)
	}
	for _, v := range b.Variables {
		cv := c.get(v.ConversationID)
		if cv.deleted() {
			continue
		}
		old := cv.vars[v.ID]
		if old != nil && v.Seq <= old.Seq {
			continue
		}
		if cv.vars == nil {
			cv.vars = map[string]*repo.ConversationVariable{}
		}
		cv.vars[v.ID] = v
		c.touch(cv, varSize(v)-varSize(old))
	}
	for _, f := range b.Feedbacks {
		cv := c.get(f.ConversationID)
		if cv.deleted() {
			continue
		}
		old := cv.feedback[f.MessageID]
		if old != nil && !repo.SupersedesChat(f.Deleted, f.Seq, old.Deleted, old.Seq) {
			continue
		}
		if cv.feedback == nil {
			cv.feedback = map[string]*repo.Feedback{}
		}
		cv.feedback[f.MessageID] = f
		ids := c.apps[f.AppID]
		if ids == nil {
			ids = map[string]bool{}
			c.apps[f.AppID] = ids
		}
		ids[cv.id] = true
		c.touch(cv, feedbackSize(f)-feedbackSize(old))
	}
	c.trim()
}

func msgOrder(a, b *repo.Message) int {
	if n := a.CreatedAt.Compare(b.CreatedAt); n != 0 {
		return n
	}
	return strings.Compare(a.ID, b.ID)
}

// get returns the conversation with id, creating it. Callers hold c.mu.
func (c *chats) get(id string) *conv {
	cv := c.convs[id]
	if cv == nil {
		cv = &conv{id: id, bytes: recordOverhead}
		c.bytes += recordOverhead
		cv.elem = c.lru.PushBack(cv)
		c.convs[id] = cv
	}
	return cv
}

func (cv *conv) deleted() bool { return cv.rec != nil && cv.rec.Deleted }

// clear drops what a deleted conversation held and returns its size;
// its record stays, so that late records do not bring it back. Callers
// hold c.mu.
func (c *chats) clear(cv *conv) int64 {
	var n int64
	for _, m := range cv.msgs {
		delete(c.msgs, m.ID)
		n += msgSize(m)
	}
	for _, v := range cv.vars {
		n += varSize(v)
	}
	for _, f := range cv.feedback {
		n += feedbackSize(f)
	}
	cv.msgs, cv.vars, cv.feedback = nil, nil, nil
	return n
}

// touch moves cv to the back of the eviction order and counts delta more
// bytes for it. Callers hold c.mu.
func (c *chats) touch(cv *conv, delta int64) {
	c.lru.MoveToBack(cv.elem)
	cv.bytes += delta
	c.bytes += delta
}

// Sizes of chat records: an allowance for the struct and its map or list
// entries, plus their variable-length fields. nil holds none.
func convSize(r *repo.Conversation) int64 {
	if r == nil {
		return 0
	}
	return recordOverhead + int64(len(r.Name)+len(r.Inputs)+len(r.Introduction)+len(r.User))
}

func msgSize(m *repo.Message) int64 {
	if m == nil {
		return 0
	}
	return recordOverhead + int64(len(m.Query)+len(m.Answer)+len(m.Inputs)+len(m.Metadata)+len(m.Files)+len(m.Error)+len(m.User))
}

func varSize(v *repo.ConversationVariable) int64 {
	if v == nil {
		return 0
	}
	return recordOverhead + int64(len(v.ID)+len(v.Name)+len(v.Description)+len(v.Value))
}

func feedbackSize(f *repo.Feedback) int64 {
	if f == nil {
		return 0
	}
	return recordOverhead + int64(len(f.Content)+len(f.User))
}

// trim evicts the conversations written least recently while a bound is
// passed. Callers hold c.mu.
func (c *chats) trim() {
	for (len(c.convs) > c.capacity || c.bytes > c.maxBytes) && c.lru.Len() > 0 {
		c.evict(c.lru.Front().Value.(*conv))
	}
}

func (c *chats) evict(cv *conv) {
	c.clear(cv)
	// cv.bytes counts everything, cleared or not.
	c.lru.Remove(cv.elem)
	delete(c.convs, cv.id)
	if r := cv.rec; r != nil {
		k := userKey(r.AppID, r.User)
		delete(c.users[k], cv)
		if len(c.users[k]) == 0 {
			delete(c.users, k)
		}
		if ids := c.apps[r.AppID]; ids != nil {
			delete(ids, cv.id)
			if len(ids) == 0 {
				delete(c.apps, r.AppID)
			}
		}
	}
	c.bytes -= cv.bytes
}

// owned returns the live conversation id of app and user, or
// repo.ErrNotFound. Callers hold c.mu.
func (c *chats) owned(appID, user, id string) (*conv, error) {
	cv := c.convs[repo.NormalizeUUID(id)]
	if cv == nil || cv.rec == nil || cv.rec.Deleted || cv.rec.AppID != appID || cv.rec.User != user {
		return nil, fmt.Errorf("conversation %s: %w", id, repo.ErrNotFound)
	}
	return cv, nil
}

// Turn implements repo.ChatReader.
func (s *Store) Turn(ctx context.Context, p *repo.TurnParams) (*repo.Turn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.chat
	c.mu.RLock()
	defer c.mu.RUnlock()
	cv, err := c.owned(p.AppID, p.User, p.ConversationID)
	if err != nil {
		return nil, err
	}
	t := &repo.Turn{Conversation: cv.rec, Messages: int64(len(cv.msgs))}
	if n := min(p.History, len(cv.msgs)); n > 0 {
		t.History = slices.Clone(cv.msgs[len(cv.msgs)-n:])
	}
	t.Variables = cv.variables()
	return t, nil
}

// variables returns cv's variables by creation time, then id.
func (cv *conv) variables() []*repo.ConversationVariable {
	out := make([]*repo.ConversationVariable, 0, len(cv.vars))
	for _, v := range cv.vars {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *repo.ConversationVariable) int {
		if n := a.CreatedAt.Compare(b.CreatedAt); n != 0 {
			return n
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// ConversationGet implements repo.ChatReader.
func (s *Store) ConversationGet(ctx context.Context, appID, user, id string) (*repo.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.chat.mu.RLock()
	defer s.chat.mu.RUnlock()
	cv, err := s.chat.owned(appID, user, id)
	if err != nil {
		return nil, err
	}
	return cv.rec, nil
}

// ConversationList implements repo.ChatReader.
func (s *Store) ConversationList(ctx context.Context, p *repo.ConversationListParams) (*repo.ConversationListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.chat
	c.mu.RLock()
	defer c.mu.RUnlock()
	key, desc, err := repo.ConversationSort(p.SortBy)
	if err != nil {
		return nil, err
	}
	var all []*repo.Conversation
	for cv := range c.users[userKey(p.AppID, p.User)] {
		if !cv.deleted() {
			all = append(all, cv.rec)
		}
	}
	if p.LastID != "" {
		last, err := c.owned(p.AppID, p.User, p.LastID)
		if err != nil {
			return nil, fmt.Errorf("last conversation: %w", err)
		}
		bound := key(last.rec)
		all = slices.DeleteFunc(all, func(r *repo.Conversation) bool {
			if desc {
				return !key(r).Before(bound)
			}
			return !key(r).After(bound)
		})
	}
	slices.SortFunc(all, func(a, b *repo.Conversation) int {
		n := key(a).Compare(key(b))
		if n == 0 {
			n = strings.Compare(a.ID, b.ID)
		}
		if desc {
			n = -n
		}
		return n
	})
	limit := p.Limit
	res := &repo.ConversationListResult{HasMore: len(all) > limit}
	res.Items = all[:min(limit, len(all))]
	return res, nil
}

// MessageList implements repo.ChatReader.
func (s *Store) MessageList(ctx context.Context, p *repo.MessageListParams) (*repo.MessageListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.chat
	c.mu.RLock()
	defer c.mu.RUnlock()
	cv, err := c.owned(p.AppID, p.User, p.ConversationID)
	if err != nil {
		return nil, err
	}
	msgs := cv.msgs
	if p.FirstID != "" {
		id := repo.NormalizeUUID(p.FirstID)
		i := slices.IndexFunc(msgs, func(m *repo.Message) bool { return m.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("first message %s: %w", p.FirstID, repo.ErrNotFound)
		}
		// Strictly older than it: messages created at the same instant
		// are skipped, as Dify's created_at < bound does.
		first := msgs[i].CreatedAt
		msgs = msgs[:slices.IndexFunc(msgs, func(m *repo.Message) bool { return !m.CreatedAt.Before(first) })]
	}
	start := max(0, len(msgs)-p.Limit)
	res := &repo.MessageListResult{Items: slices.Clone(msgs[start:]), HasMore: start > 0}
	for _, m := range res.Items {
		if f := cv.feedback[m.ID]; f != nil && !f.Deleted {
			if res.Feedbacks == nil {
				res.Feedbacks = map[string]*repo.Feedback{}
			}
			res.Feedbacks[m.ID] = f
		}
	}
	return res, nil
}

// MessageGet implements repo.ChatReader.
func (s *Store) MessageGet(ctx context.Context, appID, user, id string) (*repo.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.chat
	c.mu.RLock()
	defer c.mu.RUnlock()
	id = repo.NormalizeUUID(id)
	cv := c.msgs[id]
	if cv == nil {
		return nil, fmt.Errorf("message %s: %w", id, repo.ErrNotFound)
	}
	if _, err := c.owned(appID, user, cv.id); err != nil {
		return nil, fmt.Errorf("message %s: %w", id, repo.ErrNotFound)
	}
	for _, m := range cv.msgs {
		if m.ID == id {
			return m, nil
		}
	}
	return nil, fmt.Errorf("message %s: %w", id, repo.ErrNotFound)
}

// VariableList implements repo.ChatReader.
func (s *Store) VariableList(ctx context.Context, p *repo.VariableListParams) (*repo.VariableListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.chat
	c.mu.RLock()
	defer c.mu.RUnlock()
	cv, err := c.owned(p.AppID, p.User, p.ConversationID)
	if err != nil {
		return nil, err
	}
	vars := cv.variables()
	if p.LastID != "" {
		i := slices.IndexFunc(vars, func(v *repo.ConversationVariable) bool { return v.ID == p.LastID })
		if i >= 0 {
			after := vars[i].CreatedAt
			vars = slices.DeleteFunc(vars, func(v *repo.ConversationVariable) bool { return !v.CreatedAt.After(after) })
		}
	}
	if p.Name != "" {
		name := strings.ToLower(p.Name)
		vars = slices.DeleteFunc(vars, func(v *repo.ConversationVariable) bool { return !strings.Contains(strings.ToLower(v.Name), name) })
	}
	res := &repo.VariableListResult{HasMore: len(vars) > p.Limit}
	res.Items = vars[:min(p.Limit, len(vars))]
	return res, nil
}

// FeedbackList implements repo.ChatReader.
func (s *Store) FeedbackList(ctx context.Context, p *repo.FeedbackListParams) ([]*repo.Feedback, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.chat
	c.mu.RLock()
	defer c.mu.RUnlock()
	var all []*repo.Feedback
	for id := range c.apps[p.AppID] {
		for _, f := range c.convs[id].feedback {
			if !f.Deleted {
				all = append(all, f)
			}
		}
	}
	slices.SortFunc(all, func(a, b *repo.Feedback) int {
		if n := b.CreatedAt.Compare(a.CreatedAt); n != 0 {
			return n
		}
		return strings.Compare(b.ID, a.ID)
	})
	start := min(len(all), (max(p.Page, 1)-1)*p.Limit)
	return all[start:min(len(all), start+p.Limit)], nil
}
