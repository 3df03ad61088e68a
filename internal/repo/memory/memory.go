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

// DefaultCapacity is the number of runs kept when Config.Capacity is 0.
const DefaultCapacity = 1000

// Config configures a Store.
type Config struct {
	// Capacity is the most runs kept, with their node executions and app
	// logs; 0 means DefaultCapacity. When full, the store forgets the run
	// that finished first, or, if no stored run has finished, the one stored
	// first.
	Capacity int
}

// Store is an in-memory repo.Store. It is safe for concurrent use.
type Store struct {
	capacity int

	mu    sync.RWMutex
	runs  map[string]*entry // by run id
	nodes map[string]*entry // node execution id → its run's entry
	logs  map[string]*entry // app log id → its run's entry
	// Eviction order: runs that have finished, in the order they finished,
	// then the others, in the order they were first stored.
	finished, active list.List
	// deferred holds the entries whose records are deferred (see Defer).
	deferred map[*entry]struct{}
}

var _ repo.Store = (*Store)(nil)

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
}

// New returns an empty store.
func New(cfg Config) (*Store, error) {
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("memory: negative capacity %d", cfg.Capacity)
	}
	return &Store{
		capacity: cmp.Or(cfg.Capacity, DefaultCapacity),
		runs:     make(map[string]*entry),
		nodes:    make(map[string]*entry),
		logs:     make(map[string]*entry),
		deferred: make(map[*entry]struct{}),
	}, nil
}

// Len returns the number of runs stored.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.runs)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.apply(b); err != nil {
		return err
	}
	s.trim()
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
// Records that build returns are checked like written ones: a reader gets
// the error of a batch that Write would have refused.
func (s *Store) Defer(runID string, finished bool, build func() *repo.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(repo.NormalizeUUID(runID))
	e.build, e.final = build, finished
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
	if id != "" {
		if e := s.runs[id]; e != nil && e.build != nil {
			return s.settleEntry(e)
		}
		return nil
	}
	var errs []error
	for e := range s.deferred {
		if err := s.settleEntry(e); err != nil {
			errs = append(errs, err)
		}
	}
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
	}
	return nil
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
			e.nodes[n.ID] = n
			s.nodes[n.ID] = e
		}
	}
	for _, l := range b.AppLogs {
		e := s.entry(l.WorkflowRunID)
		if old := e.logs[l.ID]; old == nil || l.Seq > old.Seq {
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

// trim evicts runs beyond the capacity. Callers hold s.mu.
func (s *Store) trim() {
	for len(s.runs) > s.capacity {
		front := s.finished.Front()
		if front == nil {
			front = s.active.Front()
		}
		s.evict(front.Value.(*entry))
	}
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
