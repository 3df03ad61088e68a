package memory

import (
	"cmp"
	"container/list"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

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
	convs map[string]*conv          // by conversation id
	users map[string]map[*conv]bool // by userKey: the user's conversations
	msgs  map[string]*conv          // message id → its conversation
	fbs   map[string]*conv          // feedback id → its conversation
	apps  map[string]map[*conv]bool // app id → conversations holding its feedback
	lru   list.List                 // of *conv, least recently written first
	bytes int64
}

// conv is one conversation and everything in it; any record may arrive
// first.
type conv struct {
	id  string
	rec *repo.Conversation // nil until its record arrives
	// lastMsg is the latest CreatedAt of the messages written to it: the
	// floor of rec.UpdatedAt, whichever arrived first.
	lastMsg  time.Time
	msgs     []*repo.Message // by CreatedAt, then ID
	vars     map[string]*repo.ConversationVariable
	feedback map[string]*repo.Feedback // by feedback id
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
		fbs:      map[string]*conv{},
		apps:     map[string]map[*conv]bool{},
	}
}

// gone reports whether conversation id is deleted, or will be once b's
// conversations are applied (a deleted version always leaves it
// deleted: deletion ranks above everything). Callers hold c.mu.
func (c *chats) gone(id string, b *repo.Batch) bool {
	if cv := c.convs[id]; cv != nil && cv.deleted() {
		return true
	}
	for _, r := range b.Conversations {
		if r.ID == id && r.Deleted {
			return true
		}
	}
	return false
}

// check returns repo.ErrConflict if a record of b, prepared, names
// another app, user, conversation or message than the stored version of
// its id. Records of deleted conversations are ignored by apply, and so
// here. Callers hold c.mu.
func (c *chats) check(b *repo.Batch) error {
	for _, r := range b.Conversations {
		if cv := c.convs[r.ID]; cv != nil && cv.rec != nil && (cv.rec.AppID != r.AppID || cv.rec.User != r.User) {
			return fmt.Errorf("conversation %s belongs to another app or user: %w", r.ID, repo.ErrConflict)
		}
	}
	for _, m := range b.Messages {
		// A message of a conversation this batch deletes is gone before
		// the new version comes.
		if cv := c.msgs[m.ID]; cv != nil && !c.gone(m.ConversationID, b) && !c.gone(cv.id, b) {
			if old := cv.msgs[cv.msgIndex(m.ID)]; old.ConversationID != m.ConversationID || old.AppID != m.AppID {
				return fmt.Errorf("message %s belongs to conversation %s of app %q: %w", m.ID, old.ConversationID, old.AppID, repo.ErrConflict)
			}
		}
	}
	for _, f := range b.Feedbacks {
		if cv := c.fbs[f.ID]; cv != nil && !c.gone(f.ConversationID, b) && !c.gone(cv.id, b) {
			if old := cv.feedback[f.ID]; old.AppID != f.AppID || old.MessageID != f.MessageID || old.ConversationID != f.ConversationID {
				return fmt.Errorf("feedback %s belongs to message %s of app %q: %w", f.ID, old.MessageID, old.AppID, repo.ErrConflict)
			}
		}
	}
	for _, v := range b.Variables {
		if cv := c.convs[v.ConversationID]; cv != nil && !c.gone(v.ConversationID, b) {
			if old := cv.vars[v.ID]; old != nil && old.AppID != v.AppID {
				return fmt.Errorf("conversation variable %s of conversation %s belongs to app %q: %w", v.ID, v.ConversationID, old.AppID, repo.ErrConflict)
			}
		}
	}
	return nil
}

// apply stores b's chat records; b has been prepared and checked.
// Callers hold c.mu.
func (c *chats) apply(b *repo.Batch) {
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
		}
		if cv.lastMsg.After(r.UpdatedAt) {
			r.UpdatedAt = cv.lastMsg // Prepare copied r: it is ours
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
		// Every version's CreatedAt counts, whichever wins: the result
		// does not depend on the order they arrive in.
		if m.CreatedAt.After(cv.lastMsg) {
			cv.lastMsg = m.CreatedAt
		}
		if cv.rec != nil && m.CreatedAt.After(cv.rec.UpdatedAt) {
			r := *cv.rec
			r.UpdatedAt = m.CreatedAt
			cv.rec = &r
		}
		delta := msgSize(m)
		if old := c.msgs[m.ID]; old != nil {
			i := cv.msgIndex(m.ID)
			if m.Seq <= cv.msgs[i].Seq {
				continue
			}
			delta -= msgSize(cv.msgs[i])
			cv.msgs = slices.Delete(cv.msgs, i, i+1) // CreatedAt may have changed
		}
		i, _ := slices.BinarySearchFunc(cv.msgs, m, msgOrder)
		cv.msgs = slices.Insert(cv.msgs, i, m)
		c.msgs[m.ID] = cv
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
		old := cv.feedback[f.ID]
		if old != nil && !repo.SupersedesChat(f.Deleted, f.Seq, old.Deleted, old.Seq) {
			continue
		}
		if cv.feedback == nil {
			cv.feedback = map[string]*repo.Feedback{}
		}
		cv.feedback[f.ID] = f
		c.fbs[f.ID] = cv
		convs := c.apps[f.AppID]
		if convs == nil {
			convs = map[*conv]bool{}
			c.apps[f.AppID] = convs
		}
		convs[cv] = true
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

// msgIndex returns the index of message id in cv.msgs, which holds it.
func (cv *conv) msgIndex(id string) int {
	return slices.IndexFunc(cv.msgs, func(m *repo.Message) bool { return m.ID == id })
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

// visible reports whether readers see cv: its record arrived and it is
// not deleted.
func (cv *conv) visible() bool { return cv.rec != nil && !cv.rec.Deleted }

// clear drops what a conversation holds and returns its size; its record
// stays, so that late records of a deleted conversation do not bring it
// back. Callers hold c.mu.
func (c *chats) clear(cv *conv) int64 {
	var n int64
	for _, m := range cv.msgs {
		delete(c.msgs, m.ID)
		n += msgSize(m)
	}
	for id, f := range cv.feedback {
		delete(c.fbs, id)
		if convs := c.apps[f.AppID]; convs != nil {
			delete(convs, cv)
			if len(convs) == 0 {
				delete(c.apps, f.AppID)
			}
		}
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
	}
	c.bytes -= cv.bytes
}

// owned returns the visible conversation id of app and user, or
// repo.ErrNotFound. Callers hold c.mu.
func (c *chats) owned(appID, user, id string) (*conv, error) {
	cv := c.convs[repo.NormalizeUUID(id)]
	if cv == nil || !cv.visible() || cv.rec.AppID != appID || cv.rec.User != user {
		return nil, fmt.Errorf("conversation %s: %w", id, repo.ErrNotFound)
	}
	return cv, nil
}

// Readers get copies of the stored records (their JSON is shared, and
// must not be modified).
func copyConv(r *repo.Conversation) *repo.Conversation { c := *r; return &c }

func copyMsgs(ms []*repo.Message) []*repo.Message {
	out := make([]*repo.Message, len(ms))
	for i, m := range ms {
		c := *m
		out[i] = &c
	}
	return out
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
	t := &repo.Turn{Conversation: copyConv(cv.rec), Messages: int64(len(cv.msgs))}
	if n := min(p.History, len(cv.msgs)); n > 0 {
		t.History = copyMsgs(cv.msgs[len(cv.msgs)-n:])
	}
	t.Variables = cv.variables()
	return t, nil
}

// variables returns copies of cv's variables by creation time, then id.
func (cv *conv) variables() []*repo.ConversationVariable {
	out := make([]*repo.ConversationVariable, 0, len(cv.vars))
	for _, v := range cv.vars {
		c := *v
		out = append(out, &c)
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
	return copyConv(cv.rec), nil
}

// ConversationList implements repo.ChatReader.
func (s *Store) ConversationList(ctx context.Context, p *repo.ConversationListParams) (*repo.ConversationListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	order, beyond, err := repo.ConversationOrder(p.SortBy)
	if err != nil {
		return nil, err
	}
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	c := s.chat
	c.mu.RLock()
	defer c.mu.RUnlock()
	var all []*repo.Conversation
	for cv := range c.users[userKey(p.AppID, p.User)] {
		if cv.visible() {
			all = append(all, cv.rec)
		}
	}
	if p.LastID != "" {
		last, err := c.owned(p.AppID, p.User, p.LastID)
		if err != nil {
			return nil, fmt.Errorf("last conversation: %w", err)
		}
		all = slices.DeleteFunc(all, func(r *repo.Conversation) bool { return !beyond(r, last.rec) })
	}
	slices.SortFunc(all, order)
	res := &repo.ConversationListResult{Items: make([]*repo.Conversation, 0, min(limit, len(all)))}
	for _, r := range all[:min(limit, len(all))] {
		res.Items = append(res.Items, copyConv(r))
	}
	// As Dify: more when a conversation sorts strictly beyond the page's
	// last one, which is where the next page starts.
	res.HasMore = len(all) > limit && beyond(all[len(all)-1], all[limit-1])
	return res, nil
}

// MessageList implements repo.ChatReader.
func (s *Store) MessageList(ctx context.Context, p *repo.MessageListParams) (*repo.MessageListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
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
		i := cv.msgIndex(repo.NormalizeUUID(p.FirstID))
		if i < 0 {
			return nil, fmt.Errorf("first message %s: %w", p.FirstID, repo.ErrNotFound)
		}
		// Strictly older than it: messages created at the same instant
		// are skipped, as Dify's created_at < bound does.
		first := msgs[i].CreatedAt
		msgs = msgs[:slices.IndexFunc(msgs, func(m *repo.Message) bool { return !m.CreatedAt.Before(first) })]
	}
	start := max(0, len(msgs)-limit)
	res := &repo.MessageListResult{Items: copyMsgs(msgs[start:]), HasMore: start > 0}
	for _, m := range res.Items {
		if f := cv.feedbackOf(m.ID, p.User); f != nil {
			if res.Feedbacks == nil {
				res.Feedbacks = map[string]*repo.Feedback{}
			}
			res.Feedbacks[m.ID] = f
		}
	}
	return res, nil
}

// feedbackOf returns a copy of user's feedback on message id, nil if
// none: the one with the highest Seq (then id) if there are several.
func (cv *conv) feedbackOf(id, user string) *repo.Feedback {
	var best *repo.Feedback
	for _, f := range cv.feedback {
		if f.MessageID != id || f.User != user || f.Deleted {
			continue
		}
		if best == nil || f.Seq > best.Seq || f.Seq == best.Seq && f.ID > best.ID {
			best = f
		}
	}
	if best == nil {
		return nil
	}
	c := *best
	return &c
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
	m := *cv.msgs[cv.msgIndex(id)]
	return &m, nil
}

// VariableList implements repo.ChatReader.
func (s *Store) VariableList(ctx context.Context, p *repo.VariableListParams) (*repo.VariableListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
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
	if p.Name != "" {
		name := strings.ToLower(p.Name)
		vars = slices.DeleteFunc(vars, func(v *repo.ConversationVariable) bool { return !strings.Contains(strings.ToLower(v.Name), name) })
	}
	if p.LastID != "" {
		// As Dify, LastID must be among the variables the name selects.
		i := slices.IndexFunc(vars, func(v *repo.ConversationVariable) bool { return v.ID == p.LastID })
		if i < 0 {
			return nil, fmt.Errorf("last variable %q: %w", p.LastID, repo.ErrNotFound)
		}
		after := vars[i].CreatedAt
		vars = slices.DeleteFunc(vars, func(v *repo.ConversationVariable) bool { return !v.CreatedAt.After(after) })
	}
	res := &repo.VariableListResult{HasMore: len(vars) > limit}
	res.Items = vars[:min(limit, len(vars))]
	return res, nil
}

// FeedbackList implements repo.ChatReader.
func (s *Store) FeedbackList(ctx context.Context, p *repo.FeedbackListParams) ([]*repo.Feedback, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	if p.Page < 0 {
		return nil, fmt.Errorf("page %d: %w", p.Page, repo.ErrInvalid)
	}
	c := s.chat
	c.mu.RLock()
	defer c.mu.RUnlock()
	var all []*repo.Feedback
	for cv := range c.apps[p.AppID] {
		for _, f := range cv.feedback {
			if f.AppID == p.AppID && !f.Deleted {
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
	start := min(len(all), (max(p.Page, 1)-1)*limit)
	out := make([]*repo.Feedback, 0, min(len(all), start+limit)-start)
	for _, f := range all[start:min(len(all), start+limit)] {
		c := *f
		out = append(out, &c)
	}
	return out, nil
}
