package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// lostError is the error of a run closed because its instance was lost
// (reposql.LostError).
const lostError = "instance lost"

// Row is what PostgreSQL holds about one run.
type Row struct {
	ID, AppID, Status, Error, InstanceID string
	Outputs                              map[string]any
	Steps                                int64
	// Nodes counts its node executions, Open those not terminal, DupNodes
	// the executions sharing an index with another.
	Nodes, Open, DupNodes int
	// Logs counts its app logs.
	Logs int
}

func terminal(s string) bool {
	switch s {
	case "succeeded", "failed", "stopped", "partial-succeeded", "exception":
		return true
	}
	return false
}

// Snapshot reads every run with its node-execution and app-log counts.
func Snapshot(ctx context.Context, pool *pgxpool.Pool) (map[string]*Row, error) {
	rows := map[string]*Row{}
	rs, err := pool.Query(ctx, `SELECT id::text, app_id, status, error, coalesce(instance_id::text, ''), outputs, total_steps FROM workflow_runs`)
	if err != nil {
		return nil, err
	}
	for rs.Next() {
		r := &Row{}
		var outs []byte
		if err := rs.Scan(&r.ID, &r.AppID, &r.Status, &r.Error, &r.InstanceID, &outs, &r.Steps); err != nil {
			rs.Close()
			return nil, err
		}
		if outs != nil {
			json.Unmarshal(outs, &r.Outputs)
		}
		rows[r.ID] = r
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	nodes, err := pool.Query(ctx, `SELECT workflow_run_id::text, count(*), count(*) FILTER (WHERE NOT flowrun_terminal(status)),
	count(*) - count(DISTINCT index) FROM workflow_node_executions GROUP BY 1`)
	if err != nil {
		return nil, err
	}
	for nodes.Next() {
		var id string
		var n, open, dup int
		if err := nodes.Scan(&id, &n, &open, &dup); err != nil {
			nodes.Close()
			return nil, err
		}
		r := rows[id]
		if r == nil {
			r = &Row{ID: id}
			rows[id] = r
		}
		r.Nodes, r.Open, r.DupNodes = n, open, dup
	}
	nodes.Close()
	if err := nodes.Err(); err != nil {
		return nil, err
	}
	logs, err := pool.Query(ctx, `SELECT workflow_run_id::text, count(*) FROM workflow_app_logs GROUP BY 1`)
	if err != nil {
		return nil, err
	}
	defer logs.Close()
	for logs.Next() {
		var id string
		var n int
		if err := logs.Scan(&id, &n); err != nil {
			return nil, err
		}
		r := rows[id]
		if r == nil {
			r = &Row{ID: id}
			rows[id] = r
		}
		r.Logs = n
	}
	return rows, logs.Err()
}

// Killed describes an api instance killed by SIGKILL: the ids it ran under
// and when it died. In async mode with ASYNC_ACK=buffered the records it
// still held in memory die with it (up to ASYNC_FLUSH_INTERVAL of them).
type Killed struct {
	InstanceID string
	// URL is the instance's base URL (a run whose records all died with it
	// has no row to name its instance).
	URL string
	At  time.Time
}

// Check is the comparison of the clients' outcomes with PostgreSQL.
type Check struct {
	Issued     int
	Answered   int
	Persisted  int
	Lost       int
	Duplicated int
	Regressed  int
	// Incomplete: stored with the right status but wrong outputs, steps,
	// node executions or app logs.
	Incomplete int
	// Unanswered requests: accepted, then no response (a killed api) or a
	// stream cut before its end.
	Unanswered int
	// NotAccepted: connection refused (no api listening during a restart
	// or a drain).
	NotAccepted int
	// Refused: answered with an error instead of the run's end (503 while
	// draining, 503 persistence_unavailable or its stream error event).
	Refused int
	// Status5xx counts responses with a 5xx status or a 5xx error event.
	Status5xx int
	// ClosedLost: runs closed as failed "instance lost".
	ClosedLost int
	// Stopped: runs answered or stored as stopped (shutdown deadline).
	Stopped int
	// LostWithProcess: answered runs whose records (all, or the last ones)
	// died with a SIGKILLed async api before it handed them to Redis
	// (allowed only within CheckOptions.KillWindow of the kill), and the
	// oldest such answer's age at the kill.
	LostWithProcess    int
	LostWithProcessAge time.Duration
	// Unrecorded: unanswered runs with an id that PostgreSQL never got.
	Unrecorded int
	// Unknown: runs in PostgreSQL no client learnt the id of (a request
	// whose answer was an error, or none).
	Unknown int
	// LeftRunning: runs still not terminal.
	LeftRunning int
	Problems    []string
}

// OK reports whether nothing is wrong.
func (c *Check) OK() bool { return len(c.Problems) == 0 }

func (c *Check) problem(format string, args ...any) {
	if len(c.Problems) < 20 {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	} else if len(c.Problems) == 20 {
		c.Problems = append(c.Problems, "…")
	}
}

// CheckOptions relaxes Verify where a fault loses records by design.
type CheckOptions struct {
	// Killed lists SIGKILLed async api instances: an answered run of one of
	// them that ended within KillWindow before its death may be missing, or
	// closed as "instance lost" instead of with its final state: async mode
	// with ASYNC_ACK=buffered answers before its records reach Redis.
	Killed     []Killed
	KillWindow time.Duration
}

// Verify compares outs with rows.
func Verify(outs []*Outcome, rows map[string]*Row, opt CheckOptions) *Check {
	c := &Check{Issued: len(outs)}
	seen := map[string]bool{}
	killedAt := map[string]time.Time{}
	for _, k := range opt.Killed {
		killedAt[k.InstanceID] = k.At
	}
	for _, o := range outs {
		if o.HTTPStatus >= 500 || o.EventStatus >= 500 {
			c.Status5xx++
		}
		if o.RunID != "" {
			seen[o.RunID] = true
		}
		switch {
		case o.Answered():
			c.Answered++
		case o.HTTPStatus != 0 && o.Err == "" && o.Code != "":
			c.Refused++
			if o.RunID == "" {
				continue
			}
		case o.HTTPStatus == 0 && o.RunID == "" && strings.Contains(o.Err, "connection refused"):
			// Nobody listened (a restart): no run began.
			c.NotAccepted++
			continue
		default:
			c.Unanswered++
		}
		r := rows[o.RunID]
		if !o.Answered() {
			switch {
			case o.RunID == "":
			case r == nil || r.Status == "":
				c.Unrecorded++
			case !terminal(r.Status):
				c.LeftRunning++
				c.problem("unanswered run %s (%s) is still %s", o.RunID, o.App.Name, r.Status)
			case r.Error == lostError:
				c.ClosedLost++
			case r.Status == "stopped":
				c.Stopped++
			}
			continue
		}
		if o.Status == "stopped" {
			c.Stopped++
		}
		if r == nil || r.Status == "" {
			var before time.Duration
			for _, k := range opt.Killed {
				if k.URL == o.Target {
					before = k.At.Sub(o.End)
				}
			}
			// The client may read an answer after the kill signal (it sat in
			// the socket buffer): the process wrote it before it died, so it
			// counts as answered just before the kill.
			if before != 0 && before < opt.KillWindow {
				c.LostWithProcess++
				c.LostWithProcessAge = max(c.LostWithProcessAge, max(before, 0))
				continue
			}
			c.Lost++
			if before != 0 {
				c.problem("run %s (%s, %s) answered %s is not in PostgreSQL (answered %s before the kill)", o.RunID, o.App.Name, o.Target, o.Status, before)
			} else {
				c.problem("run %s (%s, %s) answered %s is not in PostgreSQL", o.RunID, o.App.Name, o.Target, o.Status)
			}
			continue
		}
		if r.Logs > 1 || r.DupNodes > 0 {
			c.Duplicated++
			c.problem("run %s: %d app logs, %d duplicated node executions", o.RunID, r.Logs, r.DupNodes)
			continue
		}
		if r.Status != o.Status {
			if at, ok := killedAt[r.InstanceID]; ok && r.Error == lostError && o.End.After(at.Add(-opt.KillWindow)) {
				c.LostWithProcess++
				c.LostWithProcessAge = max(c.LostWithProcessAge, at.Sub(o.End))
				continue
			}
			c.Regressed++
			c.problem("run %s (%s): PostgreSQL says %s %q, the client was told %s", o.RunID, o.App.Name, r.Status, r.Error, o.Status)
			continue
		}
		if !reflect.DeepEqual(normal(r.Outputs), normal(o.Outputs)) || r.Steps != o.Steps || int64(r.Nodes) != o.Steps || r.Open > 0 || r.Logs != 1 {
			c.Incomplete++
			c.problem("run %s (%s): stored outputs %v steps %d nodes %d (open %d) logs %d; answered outputs %v steps %d",
				o.RunID, o.App.Name, r.Outputs, r.Steps, r.Nodes, r.Open, r.Logs, o.Outputs, o.Steps)
			continue
		}
		c.Persisted++
	}
	for id, r := range rows {
		if r.Status == "" {
			if !seen[id] {
				c.problem("node executions or app logs of run %s, which has no run row", id)
			}
			continue
		}
		if r.Logs > 1 || r.DupNodes > 0 {
			if !seen[id] {
				c.Duplicated++
				c.problem("run %s: %d app logs, %d duplicated node executions", id, r.Logs, r.DupNodes)
			}
		}
		if seen[id] {
			continue
		}
		c.Unknown++
		if !terminal(r.Status) {
			c.LeftRunning++
			c.problem("run %s (app %s, no client knows it) is still %s", id, r.AppID, r.Status)
		} else if r.Open > 0 {
			c.problem("run %s (app %s) is %s with %d node executions still open", id, r.AppID, r.Status, r.Open)
		}
	}
	return c
}

// normal makes decoded JSON comparable (numbers as float64 either way).
func normal(m map[string]any) any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	var v any
	json.Unmarshal(b, &v)
	return v
}

// Monitor polls PostgreSQL while a scenario runs and remembers what it saw
// of every run, to catch what a final check cannot: a status that went
// backwards (terminal, then running again, or one terminal status then
// another) and runs closed as lost while their instance was alive.
type Monitor struct {
	pool   *pgxpool.Pool
	alive  func(instanceID string, at time.Time) bool
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	last       map[string]string // run id -> "status\x00error"
	regressed  map[string]string
	spurious   map[string]string
	polls      int
	pollErrors int
}

// StartMonitor polls every interval. alive reports whether an instance was
// running (not killed nor stopped) at a time: a run closed as lost while
// its instance was alive is a spurious closure.
func StartMonitor(ctx context.Context, pool *pgxpool.Pool, interval time.Duration, alive func(string, time.Time) bool) *Monitor {
	ctx, cancel := context.WithCancel(ctx)
	m := &Monitor{pool: pool, alive: alive, cancel: cancel, done: make(chan struct{}),
		last: map[string]string{}, regressed: map[string]string{}, spurious: map[string]string{}}
	go func() {
		defer close(m.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			m.poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *Monitor) poll(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	at := time.Now()
	rs, err := m.pool.Query(qctx, `SELECT id::text, status, error, coalesce(instance_id::text, '') FROM workflow_runs`)
	if err != nil {
		m.mu.Lock()
		m.pollErrors++
		m.mu.Unlock()
		return
	}
	defer rs.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.polls++
	for rs.Next() {
		var id, status, errText, inst string
		if rs.Scan(&id, &status, &errText, &inst) != nil {
			return
		}
		now := status + "\x00" + errText
		if prev, ok := m.last[id]; ok && prev != now {
			ps, pe, _ := strings.Cut(prev, "\x00")
			switch {
			case terminal(ps) && !terminal(status):
				m.regressed[id] = fmt.Sprintf("%s → %s", ps, status)
			case terminal(ps) && terminal(status) && pe != lostError:
				// Only a lost-instance closure may be replaced (by the
				// run's own final record arriving late).
				m.regressed[id] = fmt.Sprintf("%s %q → %s %q", ps, pe, status, errText)
			}
		}
		if errText == lostError && m.alive != nil && m.alive(inst, at) {
			if _, ok := m.last[id]; !ok || !strings.HasSuffix(m.last[id], lostError) {
				m.spurious[id] = inst
			}
		}
		m.last[id] = now
	}
}

// Stop stops polling and returns the runs whose status went backwards and
// those closed as lost while their instance was alive.
func (m *Monitor) Stop() (regressed, spurious map[string]string) {
	m.cancel()
	<-m.done
	m.poll(context.Background())
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.regressed, m.spurious
}

// sortedKeys returns m's keys sorted (for stable messages).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
