package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Scale sizes the scenarios.
type Scale struct {
	Name string
	// Clients is how many concurrent clients send requests.
	Clients int
	// Before and After are the load phases around a fault.
	Before, After time.Duration
	// PersisterKills SIGKILLs the persister this many times, PersisterDown
	// apart from its restart and PersisterUp before the next kill.
	PersisterKills             int
	PersisterDown, PersisterUp time.Duration
	// RedisDown and PGDown are how long Redis and PostgreSQL stay down.
	RedisDown, PGDown time.Duration
	// Heartbeat and LostAfter configure the api's instance leases (zero:
	// the api's defaults, 5 s and 30 s).
	Heartbeat, LostAfter time.Duration
	// ShutdownTimeout is the api's drain deadline in scenario 4.
	ShutdownTimeout time.Duration
	// SlowClients clients (scenarios 4 and 5) run only the slow app, with
	// SlowRounds × SlowWork: its runs must outlast ShutdownTimeout (with
	// margin: as the engine gets faster, a run of the same work gets
	// shorter; 40 × 10,000 lasted under 0.6 s by November 2026).
	SlowClients, SlowRounds, SlowWork int
	// Poll is how often PostgreSQL is read while waiting for it to be
	// complete, and by the monitor.
	Poll time.Duration
	// Recover bounds the wait for PostgreSQL to be complete after a fault.
	Recover time.Duration
	// LostBound is the longest a killed instance's runs may stay running
	// (the 60 s).
	LostBound time.Duration
}

// CIScale runs every scenario in well under two minutes.
var CIScale = Scale{
	Name: "ci", Clients: 6,
	Before: 1500 * time.Millisecond, After: 1500 * time.Millisecond,
	PersisterKills: 2, PersisterDown: 300 * time.Millisecond, PersisterUp: 700 * time.Millisecond,
	RedisDown: 2 * time.Second, PGDown: 3 * time.Second,
	Heartbeat: 500 * time.Millisecond, LostAfter: 2 * time.Second,
	ShutdownTimeout: time.Second, SlowClients: 3, SlowRounds: 160, SlowWork: 10000,
	Recover: 4 * time.Minute, LostBound: 10 * time.Second, Poll: 200 * time.Millisecond,
}

// FullScale is make chaos: minutes of load, PostgreSQL down for 30 s, the
// api's default lease windows checked against 60 s.
var FullScale = Scale{
	Name: "full", Clients: 16,
	Before: 20 * time.Second, After: 20 * time.Second,
	PersisterKills: 5, PersisterDown: 2 * time.Second, PersisterUp: 8 * time.Second,
	RedisDown: 10 * time.Second, PGDown: 30 * time.Second,
	ShutdownTimeout: 5 * time.Second, SlowClients: 4, SlowRounds: 320, SlowWork: 20000,
	Recover: 6 * time.Minute, LostBound: 60 * time.Second, Poll: time.Second,
}

// Recovery is how long one fault took to heal.
type Recovery struct {
	Fault string
	// Took is measured from the end of the fault (the process or store
	// back) until the thing named by What was true.
	Took time.Duration
	What string
}

// Result is the outcome of one scenario.
type Result struct {
	Name     string
	Check    *Check
	Recovery []Recovery
	Notes    []string
	Elapsed  time.Duration
	Err      error
	// Dir holds the scenario's logs.
	Dir string
}

// OK reports whether the scenario ran and found nothing wrong.
func (r *Result) OK() bool { return r.Err == nil && r.Check != nil && r.Check.OK() }

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Harness runs scenarios.
type Harness struct {
	Bin   Binaries
	Dir   string
	Scale Scale
	Logf  func(format string, args ...any)
}

// Scenario is one fault-injection scenario.
type Scenario struct {
	Name string
	Run  func(ctx context.Context, h *Harness, e *Env, r *Result) error
}

// Scenarios lists every scenario, in the order.
var Scenarios = []Scenario{
	{"1-persister-sigkill", persisterKill},
	{"2-redis-restart", redisRestart},
	{"3-postgres-stop-async", func(ctx context.Context, h *Harness, e *Env, r *Result) error { return pgStop(ctx, h, e, r, "async") }},
	{"3-postgres-stop-sync", func(ctx context.Context, h *Harness, e *Env, r *Result) error { return pgStop(ctx, h, e, r, "sync") }},
	{"4-api-sigterm-sync", func(ctx context.Context, h *Harness, e *Env, r *Result) error { return apiTerm(ctx, h, e, r, "sync") }},
	{"4-api-sigterm-async", func(ctx context.Context, h *Harness, e *Env, r *Result) error { return apiTerm(ctx, h, e, r, "async") }},
	{"5-api-sigkill-sync", func(ctx context.Context, h *Harness, e *Env, r *Result) error {
		return apiKill(ctx, h, e, r, "sync", "")
	}},
	{"5-api-sigkill-async", func(ctx context.Context, h *Harness, e *Env, r *Result) error {
		return apiKill(ctx, h, e, r, "async", ackEnqueued)
	}},
	{"5-api-sigkill-async-buffered", func(ctx context.Context, h *Harness, e *Env, r *Result) error {
		return apiKill(ctx, h, e, r, "async", "buffered")
	}},
}

// ackEnqueued is the ASYNC_ACK of the async scenarios: the api answers a
// run's end only once its records are in Redis or the spool, so a SIGKILL
// loses no answered run. 5-api-sigkill-async-buffered runs the default
// (buffered), whose SIGKILL loses the runs answered within a few ms.
const ackEnqueued = "enqueued"

// apiConfig is the api configuration of a scenario in mode.
func apiConfig(sc Scale, mode string) APIConfig {
	c := APIConfig{Mode: mode, Heartbeat: sc.Heartbeat, LostAfter: sc.LostAfter}
	if mode == "async" {
		c.Ack = ackEnqueued
	}
	return c
}

// Run runs s in an environment of its own.
func (h *Harness) Run(ctx context.Context, s Scenario) *Result {
	r := &Result{Name: s.Name}
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start) }()
	logf := func(format string, args ...any) { h.Logf("%s: "+format, append([]any{s.Name}, args...)...) }
	e, err := NewEnv(ctx, h.Dir, h.Bin, logf)
	if err != nil {
		r.Err = fmt.Errorf("environment: %w", err)
		return r
	}
	r.Dir = e.Dir
	defer e.Close()
	if err := s.Run(ctx, h, e, r); err != nil {
		r.Err = err
	}
	return r
}

// pause lets a load phase run for d.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// lifetimes tracks when instances were alive, for the monitor.
type lifetimes struct {
	mu   sync.Mutex
	dead map[string]time.Time // instance id -> killed or stopped at
}

func newLifetimes() *lifetimes { return &lifetimes{dead: map[string]time.Time{}} }

func (l *lifetimes) ended(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dead[id] = at
}

func (l *lifetimes) alive(id string, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	end, ok := l.dead[id]
	return !ok || at.Before(end)
}

// targets is the set of api URLs the load goes to.
type targets struct {
	mu   sync.Mutex
	urls []string
}

func (t *targets) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.urls
}

func (t *targets) set(urls ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.urls = urls
}

// settle waits until PostgreSQL agrees with the clients (Verify finds
// nothing wrong) or h.Scale.Recover passes, and returns the last check and
// how long it took from since.
func settle(ctx context.Context, h *Harness, e *Env, outs []*Outcome, opt CheckOptions, since time.Time) (*Check, time.Duration) {
	var c *Check
	err := waitFor(ctx, h.Scale.Recover, h.Scale.Poll, func(ctx context.Context) error {
		rows, err := Snapshot(ctx, e.Pool)
		if err != nil {
			return err
		}
		c = Verify(outs, rows, opt)
		if !c.OK() {
			return fmt.Errorf("%s", c.Problems[0])
		}
		return nil
	})
	took := time.Since(since)
	if c == nil {
		c = &Check{Issued: len(outs)}
	}
	if err != nil && c.OK() {
		c.problem("PostgreSQL not readable: %v", err)
	}
	return c, took
}

// finish stops the monitor and folds what it saw into c.
func finish(c *Check, m *Monitor) {
	regressed, spurious := m.Stop()
	for _, id := range sortedKeys(regressed) {
		c.Regressed++
		c.problem("run %s went backwards in PostgreSQL: %s", id, regressed[id])
	}
	for _, id := range sortedKeys(spurious) {
		c.problem("run %s was closed as %q while its instance %s was alive", id, lostError, spurious[id])
	}
}

// requireRegistered checks that every running api still holds its lease.
func requireRegistered(ctx context.Context, e *Env, c *Check, apis ...*API) {
	ids, err := e.instances(ctx)
	if err != nil {
		c.problem("reading instances: %v", err)
		return
	}
	for _, a := range apis {
		if a.Running() && !ids[a.Instance()] {
			c.problem("%s (instance %s) is running but no longer registered in instances: its runs would be closed as lost", a.Name, a.Instance())
		}
	}
}

// Scenario 1: the persister is SIGKILLed repeatedly under async load and
// restarted. Nothing may be lost or duplicated; no status may regress.
func persisterKill(ctx context.Context, h *Harness, e *Env, r *Result) error {
	sc := h.Scale
	api, err := e.NewAPI(ctx, apiConfig(sc, "async"))
	if err != nil {
		return err
	}
	p, err := e.NewPersister(ctx)
	if err != nil {
		return err
	}
	life := newLifetimes()
	mon := StartMonitor(ctx, e.Pool, sc.Poll, life.alive)
	load := StartLoad(ctx, sc.Clients, func() []string { return []string{api.URL()} }, Mix{})
	pause(ctx, sc.Before)
	var restarted time.Time
	for i := range sc.PersisterKills {
		if err := p.Kill(); err != nil {
			return err
		}
		e.Logf("persister killed (%d/%d)", i+1, sc.PersisterKills)
		pause(ctx, sc.PersisterDown)
		if err := e.StartPersister(ctx, p); err != nil {
			return err
		}
		restarted = time.Now()
		pause(ctx, sc.PersisterUp)
	}
	pause(ctx, sc.After)
	outs := load.Stop()
	c, took := settle(ctx, h, e, outs, CheckOptions{}, restarted)
	finish(c, mon)
	r.Check = c
	r.Recovery = append(r.Recovery, Recovery{"persister SIGKILL ×" + fmt.Sprint(sc.PersisterKills), took, "last restart → every answered run complete in PostgreSQL"})
	requireNoErrors(c, outs, "persister killed")
	return nil
}

// requireNoErrors: with only the persister or Redis failing, clients never
// notice: every request is answered 200 with its run's end.
func requireNoErrors(c *Check, outs []*Outcome, fault string) {
	for _, o := range outs {
		if !o.Answered() || o.HTTPStatus != 200 {
			c.problem("%s: request %d (%s) got HTTP %d %s %s", fault, o.Seq, o.App.Name, o.HTTPStatus, o.Code, o.Err)
		}
	}
	if c.Status5xx > 0 {
		c.problem("%s: %d responses with a 5xx status", fault, c.Status5xx)
	}
}

// Scenario 2: Redis (append-only file on) is restarted under async load.
// Every request is answered without a 5xx; the spool replays and the
// records are complete afterwards.
func redisRestart(ctx context.Context, h *Harness, e *Env, r *Result) error {
	sc := h.Scale
	api, err := e.NewAPI(ctx, apiConfig(sc, "async"))
	if err != nil {
		return err
	}
	if _, err := e.NewPersister(ctx); err != nil {
		return err
	}
	life := newLifetimes()
	mon := StartMonitor(ctx, e.Pool, sc.Poll, life.alive)
	load := StartLoad(ctx, sc.Clients, func() []string { return []string{api.URL()} }, Mix{})
	pause(ctx, sc.Before)
	if err := e.Redis.Stop(); err != nil {
		return fmt.Errorf("stopping redis: %w", err)
	}
	e.Logf("redis stopped")
	pause(ctx, sc.RedisDown)
	if err := e.Redis.Start(ctx); err != nil {
		return err
	}
	back := time.Now()
	e.Logf("redis started")
	pause(ctx, sc.After)
	outs := load.Stop()
	c, took := settle(ctx, h, e, outs, CheckOptions{}, back)
	finish(c, mon)
	r.Check = c
	r.Recovery = append(r.Recovery, Recovery{fmt.Sprintf("Redis down %s", sc.RedisDown), took, "Redis back → spool replayed, every answered run complete"})
	requireNoErrors(c, outs, "redis restart")
	return nil
}

// Scenario 3: PostgreSQL is stopped under load. Async: the runs go on, the
// persister retries and nothing is lost. Sync: runs fail fast with 503
// persistence_unavailable and the service recovers by itself. Two api
// instances run, so their leases must survive the outage.
func pgStop(ctx context.Context, h *Harness, e *Env, r *Result, mode string) error {
	sc := h.Scale
	var apis []*API
	for range 2 {
		a, err := e.NewAPI(ctx, apiConfig(sc, mode))
		if err != nil {
			return err
		}
		apis = append(apis, a)
	}
	if mode == "async" {
		if _, err := e.NewPersister(ctx); err != nil {
			return err
		}
	}
	life := newLifetimes()
	mon := StartMonitor(ctx, e.Pool, sc.Poll, life.alive)
	load := StartLoad(ctx, sc.Clients, func() []string { return []string{apis[0].URL(), apis[1].URL()} }, Mix{})
	pause(ctx, sc.Before)
	if err := e.PG.Stop(); err != nil {
		return fmt.Errorf("stopping postgres: %w", err)
	}
	down := time.Now()
	e.Logf("postgres stopped")
	pause(ctx, sc.PGDown)
	if err := e.PG.Start(ctx); err != nil {
		return err
	}
	back := time.Now()
	e.Logf("postgres started")
	pause(ctx, sc.After)
	outs := load.Stop()
	// Runs still in flight when PostgreSQL stopped may have been recorded
	// half; every other must be whole.
	c, took := settle(ctx, h, e, outs, CheckOptions{}, back)
	finish(c, mon)
	requireRegistered(ctx, e, c, apis...)
	r.Check = c
	if mode == "async" {
		requireNoErrors(c, outs, "postgres stopped (async)")
		r.Recovery = append(r.Recovery, Recovery{fmt.Sprintf("PostgreSQL down %s (async)", sc.PGDown), took, "PostgreSQL back → every answered run complete"})
		return nil
	}
	// Sync: requests during the outage fail fast with 503
	// persistence_unavailable; after it they succeed again.
	var failed, other int
	var slowest time.Duration
	recovered := back
	for _, o := range outs {
		if o.Answered() {
			continue
		}
		if o.Code == "persistence_unavailable" {
			failed++
			slowest = max(slowest, o.End.Sub(o.Start))
			if o.Start.After(recovered) {
				recovered = o.Start
			}
			continue
		}
		other++
		c.problem("sync, postgres stopped: request %d got HTTP %d %q %s", o.Seq, o.HTTPStatus, o.Code, o.Err)
	}
	if failed == 0 {
		c.problem("sync: no request failed with persistence_unavailable while PostgreSQL was down")
	}
	if slowest > 5*time.Second {
		c.problem("sync: a persistence_unavailable answer took %s (not fast)", slowest)
	}
	if recovered.Sub(back) > sc.Recover {
		c.problem("sync: requests still failed %s after PostgreSQL returned", recovered.Sub(back))
	}
	r.note("sync: %d requests answered 503 persistence_unavailable while PostgreSQL was down %s (slowest answer %s)", failed, back.Sub(down).Round(time.Millisecond), slowest.Round(time.Millisecond))
	r.Recovery = append(r.Recovery,
		Recovery{fmt.Sprintf("PostgreSQL down %s (sync)", sc.PGDown), max(recovered.Sub(back), 0), "PostgreSQL back → last request failing with 503"},
		Recovery{fmt.Sprintf("PostgreSQL down %s (sync)", sc.PGDown), took, "PostgreSQL back → runs cut off by the outage rewritten, none left running"})
	return nil
}

// Scenario 4: the api gets SIGTERM under load (with slow runs). In-flight
// runs finish, or end stopped at the drain deadline; every request it
// accepted is answered; records are whole.
func apiTerm(ctx context.Context, h *Harness, e *Env, r *Result, mode string) error {
	sc := h.Scale
	cfg := apiConfig(sc, mode)
	cfg.ShutdownTimeout = sc.ShutdownTimeout
	api, err := e.NewAPI(ctx, cfg)
	if err != nil {
		return err
	}
	if mode == "async" {
		if _, err := e.NewPersister(ctx); err != nil {
			return err
		}
	}
	life := newLifetimes()
	mon := StartMonitor(ctx, e.Pool, sc.Poll, life.alive)
	tg := &targets{}
	tg.set(api.URL())
	load := StartLoad(ctx, sc.Clients+sc.SlowClients, tg.get, Mix{SlowClients: sc.SlowClients, SlowRounds: sc.SlowRounds, SlowWork: sc.SlowWork})
	pause(ctx, sc.Before)
	term := time.Now()
	if err := api.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	exitErr := api.Wait(sc.ShutdownTimeout + time.Minute)
	exited := time.Now()
	life.ended(api.Instance(), exited)
	if err := e.StartAPI(ctx, api); err != nil {
		return err
	}
	up := time.Now()
	pause(ctx, sc.After)
	outs := load.Stop()
	c, took := settle(ctx, h, e, outs, CheckOptions{}, lastAnswer(outs))
	finish(c, mon)
	r.Check = c
	if exitErr != nil {
		c.problem("api exit after SIGTERM: %v", exitErr)
	}
	// A request in flight at SIGTERM that the api accepted must be
	// answered. One sent on a keep-alive connection that the shutdown
	// closed before reading it ends with EOF and no run: that is HTTP's
	// keep-alive race, not a lost run, provided PostgreSQL holds no run
	// that no client learnt the id of.
	var inflight, stopped int
	var unread []*Outcome
	for _, o := range outs {
		if !o.Start.Before(term.Add(-100*time.Millisecond)) || !o.End.After(term) {
			continue
		}
		inflight++
		if o.Status == "stopped" {
			stopped++
		}
		switch {
		case o.Answered():
		case o.HTTPStatus == 0 && o.RunID == "":
			unread = append(unread, o)
		case o.HTTPStatus == 503 && o.Code == "service_unavailable" && o.RunID == "":
			// Sent before SIGTERM but read after the drain began: the api
			// refuses new runs then (documented); no run was started.
			unread = append(unread, o)
		default:
			c.problem("request %d (%s) in flight at SIGTERM got no answer: HTTP %d %q %s", o.Seq, o.App.Name, o.HTTPStatus, o.Code, o.Err)
		}
	}
	if len(unread) > 0 {
		if c.Unknown > 0 {
			for _, o := range unread {
				c.problem("request %d (%s) in flight at SIGTERM got no answer (%s), and PostgreSQL holds %d runs no client knows", o.Seq, o.App.Name, o.Err, c.Unknown)
			}
		} else {
			r.note("%s: %d requests read only after the shutdown began (connection closed unread, or 503 service_unavailable); no run was started for them", mode, len(unread))
		}
	}
	if stopped == 0 {
		c.problem("no run in flight at SIGTERM ended stopped: the slow runs did not outlast the %s drain deadline", sc.ShutdownTimeout)
	}
	r.note("%s: %d requests in flight at SIGTERM, %d of them stopped at the %s deadline; drained and exited in %s",
		mode, inflight, stopped, sc.ShutdownTimeout, exited.Sub(term).Round(time.Millisecond))
	r.Recovery = append(r.Recovery,
		Recovery{"api SIGTERM (" + mode + ")", exited.Sub(term), "SIGTERM → drained and exited"},
		Recovery{"api SIGTERM (" + mode + ")", up.Sub(exited), "exited → restarted and ready"},
		Recovery{"api SIGTERM (" + mode + ")", took, "last answer → every answered run complete"})
	return nil
}

// Scenario 5: an api is SIGKILLed mid-run. Its runs left running are
// closed as failed "instance lost" within LostBound: in async mode by the
// surviving instance, in sync mode by the restarted one. Every answered run
// must be in PostgreSQL, except in async mode with ASYNC_ACK=buffered
// (ack), where the runs answered just before the kill may be lost.
func apiKill(ctx context.Context, h *Harness, e *Env, r *Result, mode, ack string) error {
	sc := h.Scale
	cfg := apiConfig(sc, mode)
	cfg.Ack = ack
	if ack != "" {
		mode += ", ASYNC_ACK=" + ack
	}
	victim, err := e.NewAPI(ctx, cfg)
	if err != nil {
		return err
	}
	var survivor *API
	if cfg.Mode == "async" {
		if survivor, err = e.NewAPI(ctx, cfg); err != nil {
			return err
		}
		if _, err := e.NewPersister(ctx); err != nil {
			return err
		}
	}
	life := newLifetimes()
	mon := StartMonitor(ctx, e.Pool, sc.Poll, life.alive)
	// Slow runs go to the victim, so some are in flight when it dies.
	tg, slow := &targets{}, &targets{}
	slow.set(victim.URL())
	if survivor != nil {
		tg.set(victim.URL(), survivor.URL())
	} else {
		tg.set(victim.URL())
	}
	load := StartLoad(ctx, sc.Clients+sc.SlowClients, tg.get, Mix{SlowClients: sc.SlowClients, SlowRounds: sc.SlowRounds, SlowWork: sc.SlowWork, SlowTargets: slow.get})
	pause(ctx, sc.Before)
	lost := victim.Instance()
	if err := victim.Kill(); err != nil {
		return err
	}
	killed := time.Now()
	life.ended(lost, killed)
	e.Logf("%s killed", victim.Name)
	if survivor != nil {
		tg.set(survivor.URL())
		slow.set(survivor.URL())
	} else {
		if err := e.StartAPI(ctx, victim); err != nil {
			return err
		}
	}
	// The lost instance's runs must all be closed within LostBound.
	var open int
	closeErr := waitFor(ctx, sc.LostBound+30*time.Second, 50*time.Millisecond, func(ctx context.Context) error {
		err := e.Pool.QueryRow(ctx, `SELECT count(*) FROM workflow_runs WHERE instance_id = $1 AND status = 'running'`, lost).Scan(&open)
		if err == nil && open > 0 {
			err = fmt.Errorf("%d runs of the killed instance still running", open)
		}
		return err
	})
	closedIn := time.Since(killed)
	var closedLost int
	e.Pool.QueryRow(ctx, `SELECT count(*) FROM workflow_runs WHERE instance_id = $1 AND error = $2`, lost, lostError).Scan(&closedLost)
	pause(ctx, sc.After)
	outs := load.Stop()
	// Async mode with ASYNC_ACK=buffered answers before the records reach
	// Redis: those of runs answered just before the SIGKILL die with the
	// process. Otherwise an answered run is persisted, whenever the client
	// read its answer.
	var opt CheckOptions
	if cfg.Mode == "async" && cfg.Ack != ackEnqueued {
		opt = CheckOptions{Killed: []Killed{{lost, victim.URL(), killed}}, KillWindow: 500 * time.Millisecond}
	}
	c, took := settle(ctx, h, e, outs, opt, lastAnswer(outs))
	finish(c, mon)
	r.Check = c
	if closeErr != nil {
		c.problem("runs of the killed instance: %v", closeErr)
	}
	if closedIn > sc.LostBound {
		c.problem("runs of the killed instance were closed %s after the kill (bound %s)", closedIn.Round(time.Millisecond), sc.LostBound)
	}
	if closedLost == 0 {
		c.problem("no run of the killed instance was left running to close: the slow runs did not span the kill")
	}
	by := "the restarted instance"
	if survivor != nil {
		by = "the surviving instance"
	}
	r.note("%s: %d runs of the killed instance closed as %q by %s (lease %s/%s)", mode, closedLost, lostError, by, or(sc.Heartbeat, 5*time.Second), or(sc.LostAfter, 30*time.Second))
	if c.LostWithProcess > 0 {
		r.note("%s: %d runs answered at most %s before the SIGKILL lost their records with the process (not yet handed to Redis)",
			mode, c.LostWithProcess, c.LostWithProcessAge.Round(time.Millisecond))
	}
	r.Recovery = append(r.Recovery,
		Recovery{"api SIGKILL (" + mode + ")", closedIn, "kill → its running runs closed \"instance lost\""},
		Recovery{"api SIGKILL (" + mode + ")", took, "last answer → every answered run complete"})
	return nil
}

// lastAnswer is when the last response ended.
func lastAnswer(outs []*Outcome) time.Time {
	var t time.Time
	for _, o := range outs {
		if o.End.After(t) {
			t = o.End
		}
	}
	return t
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Totals adds up the checks of rs.
func Totals(rs []*Result) Check {
	var t Check
	for _, r := range rs {
		if r.Check == nil {
			continue
		}
		c := r.Check
		t.Issued += c.Issued
		t.Answered += c.Answered
		t.Persisted += c.Persisted
		t.Lost += c.Lost
		t.Duplicated += c.Duplicated
		t.Regressed += c.Regressed
		t.Incomplete += c.Incomplete
		t.Unanswered += c.Unanswered
		t.NotAccepted += c.NotAccepted
		t.Refused += c.Refused
		t.ClosedLost += c.ClosedLost
		t.Stopped += c.Stopped
		t.LostWithProcess += c.LostWithProcess
		t.Unknown += c.Unknown
		t.LeftRunning += c.LeftRunning
	}
	return t
}

// Table renders the figures of rs as a Markdown table, then the recovery
// times and notes.
func Table(scale Scale, rs []*Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | issued | answered | persisted | lost | duplicated | regressed | incomplete | error answers | refused conn. | unanswered | closed lost | stopped | lost w/ process | ok |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	row := func(name string, c *Check, ok string) {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s |\n", name,
			c.Issued, c.Answered, c.Persisted, c.Lost, c.Duplicated, c.Regressed, c.Incomplete, c.Refused, c.NotAccepted,
			c.Unanswered, c.ClosedLost, c.Stopped, c.LostWithProcess, ok)
	}
	allOK := true
	for _, r := range rs {
		ok := "yes"
		if !r.OK() {
			ok, allOK = "**NO**", false
		}
		c := r.Check
		if c == nil {
			c = &Check{}
		}
		row(r.Name, c, ok)
	}
	t := Totals(rs)
	row("**total**", &t, map[bool]string{true: "yes", false: "**NO**"}[allOK])
	fmt.Fprintf(&b, "\n| fault | time to recover | measured |\n|---|---:|---|\n")
	for _, r := range rs {
		for _, rec := range r.Recovery {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", rec.Fault, rec.Took.Round(10*time.Millisecond), rec.What)
		}
	}
	var notes []string
	for _, r := range rs {
		for _, n := range r.Notes {
			notes = append(notes, r.Name+": "+n)
		}
		if r.Err != nil {
			notes = append(notes, r.Name+": ERROR: "+r.Err.Error())
		}
		if r.Check != nil {
			for _, p := range r.Check.Problems {
				notes = append(notes, r.Name+": PROBLEM: "+p)
			}
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}
