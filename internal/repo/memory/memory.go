// Package memory is a repo.Store that keeps recent runs in process memory.
// Nothing is durable: it serves the run-log API from a bounded store and is
// the fake that engine and API tests use. It passes the repotest suite, so it
// behaves like the database-backed store in everything but durability and
// capacity.
package memory

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/repo"
)

// Defaults for Config fields left zero.
const (
	// DefaultCapacity is the number of runs kept.
	DefaultCapacity = 1000
	// DefaultMaxBytes is the memory the kept runs may hold (64 MiB).
	DefaultMaxBytes = 64 << 20
)

// Config configures a Store.
type Config struct {
	// Capacity is the most runs kept, with their node executions and app
	// logs; 0 means DefaultCapacity.
	Capacity int
	// MaxBytes bounds the memory the kept runs hold, as estimated by the
	// store for written records and by the caller of Defer for deferred
	// ones; 0 means DefaultMaxBytes.
	//
	// When either bound is passed, the store forgets the run that finished
	// first, or, if no stored run has finished, the one stored first, until
	// both hold again. A run that alone holds more than MaxBytes is
	// therefore not kept.
	MaxBytes int64
	// Conversations is the most chat conversations kept, with their
	// messages, variables and feedback; 0 means DefaultConversations.
	Conversations int
	// ChatBytes bounds the memory those hold; 0 means DefaultChatBytes.
	// When either bound is passed, the conversation written least
	// recently is forgotten, whole.
	ChatBytes int64
}

// Store is an in-memory repo.Store. It is safe for concurrent use.
type Store struct {
	capacity int
	maxBytes int64

	mu    sync.RWMutex
	runs  map[string]*entry // by run id
	nodes map[string]*entry // node execution id → its run's entry
	logs  map[string]*entry // app log id → its run's entry
	// Eviction order: runs that have finished, in the order they finished,
	// then the others, in the order they were first stored.
	finished, active list.List
	// deferred holds the entries whose records are deferred (see Defer).
	deferred map[*entry]struct{}
	// bytes is the sum of the entries' sizes.
	bytes int64

	// chat holds the chat records, under a lock of their own.
	chat *chats
}

var (
	_ repo.Store      = (*Store)(nil)
	_ repo.ChatReader = (*Store)(nil)
)

// entry holds one run's records; any of them may arrive first.
type entry struct {
	runID string
	run   *repo.WorkflowRun // nil until the run record arrives
	// search caches the lower-cased text that RunList's keyword matches in
	// the run's inputs and outputs; it is built on the first keyword query
	// after a write (nil: not built), keeping writes cheap.
	search atomic.Pointer[string]
	nodes  map[string]*repo.NodeExecution
	logs   map[string]*repo.AppLog
	elem   *list.Element
	done   bool // in s.finished
	// build returns the run's deferred records (see Defer); nil when none
	// are pending. final: the run finished, so build's result is final and
	// build is dropped once applied.
	build func() *repo.Batch
	final bool
	// deferredBytes is what build's source holds (Defer's size) while
	// build is kept; recordBytes what the stored records hold.
	deferredBytes, recordBytes int64
}

// size is the memory e holds.
func (e *entry) size() int64 { return e.deferredBytes + e.recordBytes }

// New returns an empty store.
func New(cfg Config) (*Store, error) {
	if cfg.Capacity < 0 || cfg.MaxBytes < 0 || cfg.Conversations < 0 || cfg.ChatBytes < 0 {
		return nil, fmt.Errorf("memory: negative capacity or byte limit in %+v", cfg)
	}
	return &Store{
		capacity: cmp.Or(cfg.Capacity, DefaultCapacity),
		maxBytes: cmp.Or(cfg.MaxBytes, DefaultMaxBytes),
		runs:     make(map[string]*entry),
		nodes:    make(map[string]*entry),
		logs:     make(map[string]*entry),
		deferred: make(map[*entry]struct{}),
		chat:     newChats(cfg.Conversations, cfg.ChatBytes),
	}, nil
}

// Len returns the number of runs stored.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.runs)
}

// Bytes returns the memory the stored runs hold, as estimated for
// Config.MaxBytes.
func (s *Store) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

// Write implements repo.Writer. See repo.Writer for the errors it returns;
// it never returns repo.ErrUnavailable.
func (s *Store) Write(ctx context.Context, b *repo.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := b.Prepare()
	if err != nil {
		return err
	}
	// A batch is atomic: every record is checked, under both locks
	// (always taken in this order), before any is applied.
	runs, chat := len(b.Runs)+len(b.NodeExecutions)+len(b.AppLogs) > 0, b.Len() > len(b.Runs)+len(b.NodeExecutions)+len(b.AppLogs)
	if runs {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if chat {
		s.chat.mu.Lock()
		defer s.chat.mu.Unlock()
		if err := s.chat.check(b); err != nil {
			return err
		}
	}
	if runs {
		if err := s.apply(b); err != nil {
			return err
		}
		s.trim()
	}
	if chat {
		s.chat.apply(b)
	}
	return nil
}

// Defer registers the records of run runID without building them: build
// returns them (all the run's records so far) and is called only when a
// reader first needs the run, so runs that nobody reads cost nothing to
// record. Call Defer when the run starts, and again with finished set when
// it ends (build's result must not change after that). A run still in
// progress is rebuilt on every read; build must be safe to call
// concurrently with the run. The run counts toward the capacity and its
// eviction order as if its records had been written.
//
// size is the memory that build's source holds (for a recorder, the
// run's events and their values), counted toward Config.MaxBytes until
// the final build has been applied and dropped; the built records then
// count instead.
//
// Records that build returns are checked like written ones: a reader gets
// the error of a batch that Write would have refused.
func (s *Store) Defer(runID string, finished bool, size int64, build func() *repo.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(repo.NormalizeUUID(runID))
	e.build, e.final = build, finished
	s.resize(e, max(size, 0), e.recordBytes)
	s.deferred[e] = struct{}{}
	e.search.Store(nil)
	if finished {
		s.markDone(e)
	}
	s.trim()
}

// settle applies the deferred records of run id, or of every run if id is
// "", so that a reader sees them.
func (s *Store) settle(id string) error {
	s.mu.RLock()
	pending := len(s.deferred) > 0
	if pending && id != "" {
		e := s.runs[id]
		pending = e != nil && e.build != nil
	}
	s.mu.RUnlock()
	if !pending {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Built records may hold several times what the events they came from
	// held (each value is copied into the JSON of every record that shows
	// it): the bounds apply to them too. The run a reader asked for is
	// spared, so that the read finds it.
	if id != "" {
		e := s.runs[id]
		if e == nil || e.build == nil {
			return nil
		}
		err := s.settleEntry(e)
		s.trimSparing(e)
		return err
	}
	var errs []error
	for e := range s.deferred {
		if err := s.settleEntry(e); err != nil {
			errs = append(errs, err)
		}
	}
	s.trim()
	return errors.Join(errs...)
}

// settleEntry builds and applies e's deferred records. Callers hold s.mu.
func (s *Store) settleEntry(e *entry) error {
	b, err := e.build().Prepare()
	if err == nil {
		err = s.apply(b)
	}
	if err != nil {
		return fmt.Errorf("deferred records of run %s: %w", e.runID, err)
	}
	if e.final {
		e.build = nil
		delete(s.deferred, e)
		s.resize(e, 0, e.recordBytes)
	}
	return nil
}

// resize sets e's sizes, keeping the store's total. Callers hold s.mu.
func (s *Store) resize(e *entry, deferred, records int64) {
	s.bytes += deferred + records - e.size()
	e.deferredBytes, e.recordBytes = deferred, records
}

// apply stores a prepared batch, atomically. Callers hold s.mu.
func (s *Store) apply(b *repo.Batch) error {
	// Check every record before changing anything: a batch is atomic.
	for _, r := range b.Runs {
		if e := s.runs[r.ID]; e != nil && e.run != nil && e.run.AppID != r.AppID {
			return fmt.Errorf("run %s belongs to app %q: %w", r.ID, e.run.AppID, repo.ErrConflict)
		}
	}
	for _, n := range b.NodeExecutions {
		if e := s.nodes[n.ID]; e != nil {
			if old := e.nodes[n.ID]; old.WorkflowRunID != n.WorkflowRunID || old.AppID != n.AppID {
				return fmt.Errorf("node execution %s belongs to run %s of app %q: %w", n.ID, old.WorkflowRunID, old.AppID, repo.ErrConflict)
			}
		}
	}
	for _, l := range b.AppLogs {
		if e := s.logs[l.ID]; e != nil {
			if old := e.logs[l.ID]; old.WorkflowRunID != l.WorkflowRunID || old.AppID != l.AppID {
				return fmt.Errorf("app log %s belongs to run %s of app %q: %w", l.ID, old.WorkflowRunID, old.AppID, repo.ErrConflict)
			}
		}
	}

	for _, r := range b.Runs {
		e := s.entry(r.ID)
		if e.run == nil || repo.Supersedes(r.Status, r.Seq, e.run.Status, e.run.Seq) {
			s.resize(e, e.deferredBytes, e.recordBytes-runSize(e.run)+runSize(r))
			e.run = r // Prepare copied the record; its bytes are ours (repo.Writer)
			e.search.Store(nil)
			if r.Status.Terminal() {
				s.markDone(e)
			}
		}
	}
	for _, n := range b.NodeExecutions {
		e := s.entry(n.WorkflowRunID)
		if old := e.nodes[n.ID]; old == nil || repo.Supersedes(n.Status, n.Seq, old.Status, old.Seq) {
			s.resize(e, e.deferredBytes, e.recordBytes-nodeSize(old)+nodeSize(n))
			e.nodes[n.ID] = n
			s.nodes[n.ID] = e
		}
	}
	for _, l := range b.AppLogs {
		e := s.entry(l.WorkflowRunID)
		if old := e.logs[l.ID]; old == nil || l.Seq > old.Seq {
			if old == nil {
				s.resize(e, e.deferredBytes, e.recordBytes+logSize(l))
			}
			c := *l
			e.logs[l.ID] = &c
			s.logs[l.ID] = e
		}
	}
	return nil
}

// markDone moves e to the finished runs, which are evicted first.
// Callers hold s.mu.
func (s *Store) markDone(e *entry) {
	if !e.done {
		s.active.Remove(e.elem)
		e.elem, e.done = s.finished.PushBack(e), true
	}
}

// trim evicts runs beyond the capacity or the byte limit. Callers hold
// s.mu.
func (s *Store) trim() { s.trimSparing(nil) }

// trimSparing is trim, never evicting spare. Callers hold s.mu.
func (s *Store) trimSparing(spare *entry) {
	for len(s.runs) > s.capacity || s.bytes > s.maxBytes {
		victim := s.oldest(&s.finished, spare)
		if victim == nil {
			victim = s.oldest(&s.active, spare)
		}
		if victim == nil {
			return
		}
		s.evict(victim)
	}
}

// oldest returns the first entry of l other than spare, or nil.
func (s *Store) oldest(l *list.List, spare *entry) *entry {
	for el := l.Front(); el != nil; el = el.Next() {
		if e := el.Value.(*entry); e != spare {
			return e
		}
	}
	return nil
}

// entry returns the entry of a run, creating it. Callers hold s.mu.
func (s *Store) entry(runID string) *entry {
	e := s.runs[runID]
	if e == nil {
		e = &entry{runID: runID, nodes: make(map[string]*repo.NodeExecution), logs: make(map[string]*repo.AppLog)}
		e.elem = s.active.PushBack(e)
		s.runs[runID] = e
	}
	return e
}

func (s *Store) evict(e *entry) {
	if e.done {
		s.finished.Remove(e.elem)
	} else {
		s.active.Remove(e.elem)
	}
	for id := range e.nodes {
		delete(s.nodes, id)
	}
	for id := range e.logs {
		delete(s.logs, id)
	}
	delete(s.deferred, e)
	delete(s.runs, e.runID)
	s.bytes -= e.size()
}

// Allowances for a stored record's structs, ids and map entries, in
// bytes, on top of its variable-length fields.
const (
	recordOverhead = 640
	logOverhead    = 400
)

// runSize estimates the memory a run record holds; nil holds none. Its
// inputs and outputs count twice: RunList may cache their text for
// keyword search.
func runSize(r *repo.WorkflowRun) int64 {
	if r == nil {
		return 0
	}
	return recordOverhead + int64(len(r.Graph)+2*(len(r.Inputs)+len(r.Outputs))+len(r.Error)+len(r.CreatedBy)+len(r.SessionID))
}

// nodeSize estimates the memory a node execution record holds.
func nodeSize(n *repo.NodeExecution) int64 {
	if n == nil {
		return 0
	}
	return recordOverhead + int64(len(n.Inputs)+len(n.ProcessData)+len(n.Outputs)+len(n.Metadata)+len(n.Error)+len(n.Title)+len(n.NodeID)+len(n.PredecessorNodeID))
}

// logSize estimates the memory an app log holds.
func logSize(l *repo.AppLog) int64 {
	return logOverhead + int64(len(l.SessionID)+len(l.CreatedBy))
}

// RunGet implements repo.Reader.
func (s *Store) RunGet(ctx context.Context, p *repo.RunGetParams) (*repo.WorkflowRun, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := repo.NormalizeUUID(p.RunID)
	if err := s.settle(id); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.runs[id]
	if e == nil || e.run == nil || e.run.AppID != p.AppID {
		return nil, fmt.Errorf("run %s: %w", p.RunID, repo.ErrNotFound)
	}
	return cloneRun(e.run), nil
}

// NodeExecutionList implements repo.Reader.
func (s *Store) NodeExecutionList(ctx context.Context, p *repo.NodeExecutionListParams) ([]*repo.NodeExecution, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := repo.NormalizeUUID(p.RunID)
	if err := s.settle(id); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.runs[id]
	if e == nil || e.run == nil || e.run.AppID != p.AppID {
		return nil, fmt.Errorf("run %s: %w", p.RunID, repo.ErrNotFound)
	}
	out := make([]*repo.NodeExecution, 0, len(e.nodes))
	for _, n := range e.nodes {
		out = append(out, cloneNode(n))
	}
	slices.SortFunc(out, func(a, b *repo.NodeExecution) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RunList implements repo.Reader.
func (s *Store) RunList(ctx context.Context, p *repo.RunListParams) (*repo.RunListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.Page < 0 || p.Limit < 0 {
		return nil, fmt.Errorf("page %d, limit %d: %w", p.Page, p.Limit, repo.ErrInvalid)
	}
	res := &repo.RunListResult{Page: cmp.Or(p.Page, repo.DefaultPage), Limit: cmp.Or(p.Limit, repo.DefaultLimit)}

	keyword := strings.ToLower(truncate(p.Keyword, repo.KeywordMaxLen))
	keywordID := ""
	if repo.ValidUUID(p.Keyword) {
		keywordID = repo.NormalizeUUID(p.Keyword)
	}

	if err := s.settle(""); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var items []*repo.RunListItem
	for _, e := range s.runs {
		for _, l := range e.logs {
			run := e.run
			if run != nil && run.AppID != l.AppID {
				run = nil // a run of another app is not this log's to show
			}
			if l.AppID != p.AppID ||
				p.SessionID != "" && l.SessionID != p.SessionID ||
				!p.CreatedBefore.IsZero() && l.CreatedAt.After(p.CreatedBefore) ||
				!p.CreatedAfter.IsZero() && l.CreatedAt.Before(p.CreatedAfter) ||
				p.Status != "" && (run == nil || run.Status != p.Status) {
				continue
			}
			if keyword != "" {
				match := strings.Contains(strings.ToLower(l.SessionID), keyword) ||
					run != nil && (strings.Contains(e.searchText(), keyword) || run.ID == keywordID)
				if !match {
					continue
				}
			}
			items = append(items, &repo.RunListItem{Log: l, Run: run})
		}
	}
	slices.SortFunc(items, func(a, b *repo.RunListItem) int {
		return cmp.Or(b.Log.CreatedAt.Compare(a.Log.CreatedAt), strings.Compare(b.Log.ID, a.Log.ID))
	})

	res.Total = int64(len(items))
	start := min((res.Page-1)*res.Limit, len(items))
	end := min(start+res.Limit, len(items))
	res.HasMore = res.Total > int64(res.Page)*int64(res.Limit)
	res.Items = make([]*repo.RunListItem, 0, end-start)
	for _, it := range items[start:end] {
		l := *it.Log
		c := &repo.RunListItem{Log: &l}
		if it.Run != nil {
			c.Run = cloneRun(it.Run)
		}
		res.Items = append(res.Items, c)
	}
	return res, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// searchText returns the entry's search text, building it if needed.
// Concurrent readers may both build it; they store the same value.
func (e *entry) searchText() string {
	if p := e.search.Load(); p != nil {
		return *p
	}
	t := searchText(e.run.Inputs) + "\x00" + searchText(e.run.Outputs)
	e.search.Store(&t)
	return t
}

// searchText renders JSON as compact text with strings unescaped, close to
// what a database's JSON-to-text cast gives, lower-cased.
func searchText(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return strings.ToLower(string(raw))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return strings.ToLower(string(raw))
	}
	return strings.ToLower(strings.TrimSpace(buf.String()))
}

func cloneRun(r *repo.WorkflowRun) *repo.WorkflowRun {
	c := *r
	c.Graph, c.Inputs, c.Outputs = bytes.Clone(c.Graph), bytes.Clone(c.Inputs), bytes.Clone(c.Outputs)
	return &c
}

func cloneNode(n *repo.NodeExecution) *repo.NodeExecution {
	c := *n
	c.Inputs, c.ProcessData, c.Outputs, c.Metadata = bytes.Clone(c.Inputs), bytes.Clone(c.ProcessData), bytes.Clone(c.Outputs), bytes.Clone(c.Metadata)
	return &c
}
