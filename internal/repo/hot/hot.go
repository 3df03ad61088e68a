// Package hot keeps async mode's hot chat state in Redis: for each recent
// conversation, the log of the chat batches written to it, so that the
// next turn, on any replica, sees this turn's message and variables
// before the persister has stored them in PostgreSQL. It implements
// repo.Writer and repo.ChatLog: async mode writes through it with
// repo.ChatAfter and reads through it with repo.NewOverlay.
//
// A conversation's log is one Redis list, its first element a header
// (see headerHeld), so it appears, grows and expires as one key. A log
// holds a conversation whole only once it has the conversation's first
// version (its first turn), a seed read from PostgreSQL, or its
// deletion; until then its records are kept, for the seed to join, but
// reads go to PostgreSQL. A deletion replaces the log with the
// tombstone. Every write renews the log's
// time to live. Messages are indexed to their conversation under keys
// of their own, for lookups by message id.
package hot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flowrun/flowrun/internal/repo"
)

// Defaults for Config fields left zero.
const (
	DefaultPrefix = "flowrun:chat:"
	// DefaultTTL is how long an idle conversation stays hot.
	DefaultTTL = 24 * time.Hour
	// DefaultMaxBytes bounds one conversation's log (4 MiB).
	DefaultMaxBytes = 4 << 20
	// DefaultWindow is how long a change to a conversation is listed as
	// recent.
	DefaultWindow = 10 * time.Minute
)

// Config configures a Store.
type Config struct {
	// Prefix starts every key; DefaultPrefix when empty.
	Prefix string
	// TTL is how long a conversation stays after its last write;
	// DefaultTTL when 0.
	TTL time.Duration
	// MaxBytes bounds the encoded records one conversation's log holds;
	// DefaultMaxBytes when 0. A conversation that passes it is dropped
	// from the log (and then read from PostgreSQL) until it expires.
	MaxBytes int64
	// Window is how long a conversation stays among its user's recently
	// changed ones (Recent), which lists of conversations take from the
	// log rather than PostgreSQL; DefaultWindow when 0. It must exceed
	// the persister's lag.
	Window time.Duration
}

// Store is the Redis chat log. It is safe for concurrent use.
type Store struct {
	rdb   redis.UniversalClient
	cfg   Config
	cache *decoded
}

var (
	_ repo.Writer  = (*Store)(nil)
	_ repo.ChatLog = (*Store)(nil)
)

// New returns a Store over rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if cfg.TTL < 0 || cfg.MaxBytes < 0 || cfg.Window < 0 {
		return nil, fmt.Errorf("hot: negative TTL, MaxBytes or Window in %+v", cfg)
	}
	if cfg.TTL > 0 && cfg.TTL < time.Millisecond || cfg.Window > 0 && cfg.Window < time.Millisecond {
		return nil, fmt.Errorf("hot: TTL or Window under a millisecond in %+v", cfg)
	}
	cfg.Prefix = cmp.Or(cfg.Prefix, DefaultPrefix)
	cfg.TTL = cmp.Or(cfg.TTL, DefaultTTL)
	cfg.MaxBytes = cmp.Or(cfg.MaxBytes, int64(DefaultMaxBytes))
	cfg.Window = cmp.Or(cfg.Window, DefaultWindow)
	return &Store{rdb: rdb, cfg: cfg, cache: newDecoded(cacheBytes)}, nil
}

// logKey is a conversation's log; the braces keep a conversation's keys
// in one Redis Cluster slot.
func (s *Store) logKey(conversationID string) string {
	return s.cfg.Prefix + "{" + conversationID + "}"
}

func (s *Store) msgKey(messageID string) string { return s.cfg.Prefix + "msg:" + messageID }

// userKey is the sorted set of a user's recently changed conversations,
// scored by the change's time in microseconds.
func (s *Store) userKey(appID, user string) string {
	h := sha256.Sum256([]byte(appID + "\x00" + user))
	return s.cfg.Prefix + "user:" + hex.EncodeToString(h[:16])
}

// entry is one batch of a conversation's log, as JSON.
type entry struct {
	Conversations []*repo.Conversation         `json:"c,omitempty"`
	Messages      []*repo.Message              `json:"m,omitempty"`
	Feedbacks     []*repo.Feedback             `json:"f,omitempty"`
	Variables     []*repo.ConversationVariable `json:"v,omitempty"`
}

// Write implements repo.Writer: it appends each conversation's records in
// b to that conversation's log. Run records in b are ignored.
func (s *Store) Write(ctx context.Context, b *repo.Batch) error {
	p, err := b.Prepare()
	if err != nil {
		return err
	}
	// The conversations whose first version b holds (Prepare may have
	// kept a later one).
	first := map[string]bool{}
	for _, c := range b.Conversations {
		if c != nil && c.Seq == repo.Version(c.CreatedAt) {
			first[repo.NormalizeUUID(c.ID)] = true
		}
	}
	for id, e := range group(p) {
		mode := modeAppend
		if first[id] {
			mode = modeCreate
		}
		for _, c := range e.Conversations {
			if c.Deleted {
				mode = modeReplace
				e = &entry{Conversations: []*repo.Conversation{c}}
			}
		}
		if err := s.append(ctx, id, e, mode); err != nil {
			// A log that may have missed this write must not answer for
			// the conversation: drop it, if Redis lets us.
			s.rdb.Del(context.WithoutCancel(ctx), s.logKey(id))
			return err
		}
	}
	return nil
}

// group splits a batch's chat records by conversation.
func group(b *repo.Batch) map[string]*entry {
	out := map[string]*entry{}
	at := func(id string) *entry {
		e := out[id]
		if e == nil {
			e = &entry{}
			out[id] = e
		}
		return e
	}
	for _, c := range b.Conversations {
		at(c.ID).Conversations = append(at(c.ID).Conversations, c)
	}
	for _, m := range b.Messages {
		at(m.ConversationID).Messages = append(at(m.ConversationID).Messages, m)
	}
	for _, f := range b.Feedbacks {
		at(f.ConversationID).Feedbacks = append(at(f.ConversationID).Feedbacks, f)
	}
	for _, v := range b.Variables {
		at(v.ConversationID).Variables = append(at(v.ConversationID).Variables, v)
	}
	return out
}

// Seed implements repo.ChatLog.
func (s *Store) Seed(ctx context.Context, conversationID string, b *repo.Batch) error {
	p, err := b.Prepare()
	if err != nil {
		return err
	}
	e := group(p)[repo.NormalizeUUID(conversationID)]
	if e == nil {
		return nil
	}
	return s.append(ctx, conversationID, e, modeSeed)
}

// append runs the append script for one conversation's entry, indexing
// its messages in the same round trip.
func (s *Store) append(ctx context.Context, id string, e *entry, mode string) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("hot: encode conversation %s: %w", id, repo.ErrInvalid)
	}
	ttl := s.cfg.TTL.Milliseconds()
	args := []any{payload, mode, ttl, s.cfg.MaxBytes}
	run := func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			appendScript.EvalSha(ctx, p, []string{s.logKey(id)}, args...)
			for _, m := range e.Messages {
				p.Set(ctx, s.msgKey(m.ID), id, s.cfg.TTL)
			}
			if mode != modeSeed {
				s.touch(ctx, p, id, e)
			}
			return nil
		})
		return err
	}
	err = run()
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		if err = appendScript.Load(ctx, s.rdb).Err(); err == nil {
			err = run()
		}
	}
	return unavailable(err)
}

// touch lists a conversation among its user's recently changed ones, at
// the time of the entry's latest change to it (a version of it, whose Seq
// is its time, or a message), and forgets the user's changes older than the window.
func (s *Store) touch(ctx context.Context, p redis.Pipeliner, id string, e *entry) {
	var app, user string
	var at time.Time
	for _, c := range e.Conversations {
		app, user, at = c.AppID, c.User, later(at, time.UnixMicro(c.Seq))
	}
	for _, m := range e.Messages {
		app, user, at = m.AppID, m.User, later(at, m.CreatedAt)
	}
	if app == "" {
		return
	}
	key := s.userKey(app, user)
	p.ZAddGT(ctx, key, redis.Z{Score: float64(at.UnixMicro()), Member: id})
	p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(time.Now().Add(-s.cfg.Window).UnixMicro(), 10))
	p.PExpire(ctx, key, s.cfg.Window)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Recent implements repo.ChatLog.
func (s *Store) Recent(ctx context.Context, appID, user string) ([]string, error) {
	since := strconv.FormatInt(time.Now().Add(-s.cfg.Window).UnixMicro(), 10)
	ids, err := s.rdb.ZRangeByScore(ctx, s.userKey(appID, user), &redis.ZRangeBy{Min: since, Max: "+inf"}).Result()
	return ids, unavailable(err)
}

// Log implements repo.ChatLog. The batches may be shared with other
// callers: they must not be changed (stores copy what they keep).
func (s *Store) Log(ctx context.Context, conversationID string) ([]*repo.Batch, error) {
	conversationID = repo.NormalizeUUID(conversationID)
	raw, err := s.rdb.LRange(ctx, s.logKey(conversationID), 0, -1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	switch {
	case len(raw) > 0 && raw[0] == headerOver:
		return nil, fmt.Errorf("hot: conversation %s: %w", conversationID, repo.ErrTooLarge)
	case len(raw) < 2 || !strings.HasPrefix(raw[0], headerHeld):
		return nil, fmt.Errorf("hot: conversation %s: %w", conversationID, repo.ErrNotFound)
	}
	out := make([]*repo.Batch, 0, len(raw)-1)
	for _, r := range raw[1:] {
		b := s.cache.get(r)
		if b == nil {
			var e entry
			if err := json.Unmarshal([]byte(r), &e); err != nil {
				return nil, fmt.Errorf("hot: conversation %s: corrupt entry: %w", conversationID, repo.ErrUnavailable)
			}
			b = &repo.Batch{Conversations: e.Conversations, Messages: e.Messages, Feedbacks: e.Feedbacks, Variables: e.Variables}
			s.cache.put(r, b)
		}
		out = append(out, b)
	}
	return out, nil
}

// MessageConversation implements repo.ChatLog.
func (s *Store) MessageConversation(ctx context.Context, messageID string) (string, error) {
	id, err := s.rdb.Get(ctx, s.msgKey(repo.NormalizeUUID(messageID))).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("hot: message %s: %w", messageID, repo.ErrNotFound)
	}
	return id, unavailable(err)
}

// Bytes returns what a conversation's log holds, by its header: the
// encoded bytes, -1 when the conversation outgrew it, 0 when it holds
// nothing.
func (s *Store) Bytes(ctx context.Context, conversationID string) (int64, error) {
	h, err := s.rdb.LIndex(ctx, s.logKey(repo.NormalizeUUID(conversationID)), 0).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, nil
	case err != nil:
		return 0, unavailable(err)
	case h == headerOver:
		return -1, nil
	case h == "":
		return 0, nil
	}
	return strconv.ParseInt(h[1:], 10, 64)
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return unavailable(s.rdb.Ping(ctx).Err()) }

// unavailable wraps a Redis error as repo.ErrUnavailable.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("hot: redis: %w: %w", repo.ErrUnavailable, err)
}
