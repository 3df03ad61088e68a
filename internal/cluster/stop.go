package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flowrun/flowrun/internal/startstop"
)

// Defaults for StopConfig fields left zero.
const (
	DefaultAckWait  = 2 * time.Second
	DefaultStopWait = 10 * time.Second
	DefaultMarkTTL  = 10 * time.Minute
)

// ErrStillRunning is a stop whose holder did not report the run ended in
// time: a node of it ignores cancellation, or the holder died meanwhile.
var ErrStillRunning = errors.New("cluster: the stopped run had not ended in time")

// Holder is the replica's side of a stop: the api server.
type Holder interface {
	// CancelTask stops taskID if this replica runs it as a run of appID
	// started by user, and returns ok and a function that waits, bounded,
	// for the run to end (its error is non-nil if it had not).
	CancelTask(taskID, appID, user string) (wait func(context.Context) error, ok bool)
	// Tasks returns the ids of the tasks this replica runs now.
	Tasks() []string
}

// StopConfig configures a Stopper. Zero values take the defaults.
type StopConfig struct {
	// Origin names this replica in its messages (its instance id).
	// Required.
	Origin string
	// AckWait bounds how long a stop waits for the replicas to say
	// whether they hold the task (default 2 s). It is spent whole only
	// when a replica that received the request does not answer (it is
	// dying), or when the Bus cannot count receivers.
	AckWait time.Duration
	// StopWait is how long the holder lets the stopped run take to end
	// (the api's StopWait, default 10 s); the requester waits AckWait
	// longer for its report.
	StopWait time.Duration
	// MarkTTL is how long a stop that no replica took up stays marked
	// for a replica that missed it (default 10 min, as Dify's
	// generate_task_stopped key).
	MarkTTL time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Stopper carries stop requests between replicas over a Bus; it
// implements the api's Stopper. Start it with the replica's Holder, then
// Stop it once the replica's runs are over.
//
// A request goes to every replica; each answers whether it holds the task.
// The holder stops the run and, once it has ended, reports so. The
// requester answers as soon as the holder has reported, or every other
// replica said it does not hold the task (Publish counts them), or
// AckWait has passed. A request nobody held is also marked (when the Bus
// is a Marker), so that a holder whose subscription was down sees it when
// it resubscribes.
type Stopper struct {
	bus    Bus
	cfg    StopConfig
	holder Holder

	mu      sync.Mutex
	pending map[string]chan message // by request id

	life startstop.Base
}

// NewStopper returns a Stopper over bus.
func NewStopper(bus Bus, cfg StopConfig) (*Stopper, error) {
	if cfg.Origin == "" {
		return nil, errors.New("cluster: StopConfig.Origin is required")
	}
	if cfg.AckWait < 0 || cfg.StopWait < 0 || cfg.MarkTTL < 0 {
		return nil, errors.New("cluster: StopConfig durations must not be negative")
	}
	cfg.AckWait = cmp.Or(cfg.AckWait, DefaultAckWait)
	cfg.StopWait = cmp.Or(cfg.StopWait, DefaultStopWait)
	cfg.MarkTTL = cmp.Or(cfg.MarkTTL, DefaultMarkTTL)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Stopper{bus: bus, cfg: cfg, pending: map[string]chan message{}}
	s.life.Name = "cluster: stopper"
	return s, nil
}

// Start subscribes to the bus, delivering stop requests to h, and returns
// once the subscription is established, or with ctx's error (ctx bounds
// the start-up only). Starting twice is an error.
func (s *Stopper) Start(ctx context.Context, h Holder) error {
	return s.life.Start(context.WithoutCancel(ctx), func(context.Context) error {
		s.holder = h
		ready, ended := make(chan struct{}), make(chan struct{})
		var readyOnce sync.Once
		s.life.Go(func(run context.Context) {
			defer close(ended)
			err := s.bus.Subscribe(run, s.deliver, func() {
				readyOnce.Do(func() { close(ready) })
				s.life.Go(s.readMarks)
			})
			if err != nil && run.Err() == nil {
				s.cfg.Logger.Error("cluster: stop subscription ended", "err", err)
			}
		})
		select {
		case <-ready:
			return nil
		case <-ended:
			return fmt.Errorf("cluster: subscribing for stop requests: %w", ErrClosed)
		case <-ctx.Done():
			return fmt.Errorf("cluster: subscribing for stop requests: %w", ctx.Err())
		}
	})
}

// Stop ends the subscription and the requests this replica is serving
// (their requesters hear nothing more and time out), and waits for them,
// at most until ctx is done. Stopping twice, or a Stopper never started,
// is a no-op.
func (s *Stopper) Stop(ctx context.Context) error {
	return s.life.Stop(ctx)
}

// message is what replicas send each other, as JSON.
type message struct {
	Kind string `json:"kind"` // kindStop, kindAck or kindDone
	ID   string `json:"id"`   // the request's id
	From string `json:"from"` // the sender's Origin
	// To is the requester (ack and done).
	To string `json:"to,omitempty"`
	// Task, App and User are the request's.
	Task string `json:"task,omitempty"`
	App  string `json:"app,omitempty"`
	User string `json:"user,omitempty"`
	// Held answers an ack: the sender runs the task.
	Held bool `json:"held,omitempty"`
	// Err reports a done whose run had not ended in time.
	Err string `json:"err,omitempty"`
}

const (
	kindStop = "stop"
	kindAck  = "ack"
	kindDone = "done"
)

// StopTask implements the api's Stopper.
func (s *Stopper) StopTask(ctx context.Context, taskID, appID, user string) (held bool, err error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	req := message{Kind: kindStop, ID: hex.EncodeToString(b[:]), From: s.cfg.Origin, Task: taskID, App: appID, User: user}
	replies := make(chan message, 16)
	s.mu.Lock()
	s.pending[req.ID] = replies
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, req.ID)
		s.mu.Unlock()
	}()
	raw, _ := json.Marshal(req)
	n, err := s.bus.Publish(ctx, raw)
	if err != nil {
		return false, fmt.Errorf("cluster: publishing a stop request: %w", err)
	}
	// This replica receives its own request too, and ignores it.
	others := n - 1
	ack := time.NewTimer(s.cfg.AckWait)
	defer ack.Stop()
	for answered := 0; others < 0 || answered < others; {
		select {
		case m := <-replies:
			if m.Kind == kindAck && m.Held {
				return true, s.awaitDone(ctx, replies)
			}
			if m.Kind == kindAck {
				answered++
			}
		case <-ack.C:
			return false, s.mark(ctx, taskID, raw)
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return false, s.mark(ctx, taskID, raw)
}

// awaitDone waits for the holder's report that the stopped run ended.
func (s *Stopper) awaitDone(ctx context.Context, replies <-chan message) error {
	t := time.NewTimer(s.cfg.StopWait + s.cfg.AckWait)
	defer t.Stop()
	for {
		select {
		case m := <-replies:
			if m.Kind != kindDone {
				continue
			}
			if m.Err != "" {
				return fmt.Errorf("%w: %s", ErrStillRunning, m.Err)
			}
			return nil
		case <-t.C:
			return ErrStillRunning
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// mark leaves a request nobody held for a holder that missed it.
func (s *Stopper) mark(ctx context.Context, taskID string, raw []byte) error {
	mk, ok := s.bus.(Marker)
	if !ok {
		return nil
	}
	if err := mk.Mark(ctx, taskID, raw, s.cfg.MarkTTL); err != nil {
		return fmt.Errorf("cluster: marking a stop request: %w", err)
	}
	return nil
}

// deliver handles one message from the bus (on the subscription's
// goroutine: it must not block).
func (s *Stopper) deliver(raw []byte) {
	var m message
	if err := json.Unmarshal(raw, &m); err != nil || m.ID == "" {
		s.cfg.Logger.Warn("cluster: ignoring a malformed message", "bytes", len(raw))
		return
	}
	switch m.Kind {
	case kindStop:
		if m.From != s.cfg.Origin {
			s.life.Go(func(ctx context.Context) { s.serve(ctx, m, true) })
		}
	case kindAck, kindDone:
		if m.To != s.cfg.Origin {
			return
		}
		s.mu.Lock()
		ch := s.pending[m.ID]
		s.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default: // the requester has what it needs
			}
		}
	}
}

// serve is the holder's side of request m; reply says whether to answer
// (marks are not answered: nobody waits for them). It gives up when ctx,
// the Stopper's, ends.
func (s *Stopper) serve(ctx context.Context, m message, reply bool) {
	wait, ok := s.holder.CancelTask(m.Task, m.App, m.User)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StopWait+s.cfg.AckWait)
	defer cancel()
	if reply {
		s.send(ctx, message{Kind: kindAck, ID: m.ID, From: s.cfg.Origin, To: m.From, Held: ok})
	}
	if !ok {
		return
	}
	done := message{Kind: kindDone, ID: m.ID, From: s.cfg.Origin, To: m.From}
	if err := wait(ctx); err != nil {
		done.Err = err.Error()
	}
	if reply {
		s.send(ctx, done)
	}
}

func (s *Stopper) send(ctx context.Context, m message) {
	raw, _ := json.Marshal(m)
	if _, err := s.bus.Publish(ctx, raw); err != nil {
		s.cfg.Logger.Warn("cluster: answering a stop request", "task_id", m.Task, "err", err)
	}
}

// readMarks stops the tasks of this replica that were marked stopped
// while its subscription was down.
func (s *Stopper) readMarks(ctx context.Context) {
	mk, ok := s.bus.(Marker)
	if !ok {
		return
	}
	ids := s.holder.Tasks()
	if len(ids) == 0 {
		return
	}
	raws, err := mk.Marks(ctx, ids)
	if err != nil {
		s.cfg.Logger.Warn("cluster: reading stop marks", "err", err)
		return
	}
	for _, raw := range raws {
		var m message
		if json.Unmarshal(raw, &m) == nil && m.Kind == kindStop {
			s.life.Go(func(ctx context.Context) { s.serve(ctx, m, false) })
		}
	}
}
