// Package startstop is the one lifecycle of flowrun's background
// services (listeners, tickers, flushers, worker pools). A service holds
// a Base: it starts through Base.Start, runs its goroutines with Base.Go,
// and stops with Base.Stop, which is race-free, idempotent, and bounded by
// the caller's context.
//
// The rules a Base enforces:
//
//   - A service starts once. Start while it runs returns ErrStarted; Start
//     after Stop returns ErrStop. A Start that fails cancels what it began
//     and leaves the service as if never started, so it may be tried again.
//   - Stop cancels the service's context with the cause ErrStop and waits
//     for its goroutines, and for the work in Enter/Leave, to end. It
//     returns ctx's error (wrapped) if ctx ends first; the goroutines then
//     still end, later. A Stop that returns nil leaves no goroutine of the
//     service behind.
//   - Stopping a service that never started is a no-op, and so is
//     stopping it again (it waits again, for a Stop that timed out).
//
// A goroutine started with Go must return once its context is cancelled.
package startstop

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Sentinel errors.
var (
	// ErrStop is the cause of a service's context once Stop cancelled it,
	// which tells a controlled stop from other cancellations. Start and
	// Enter return it, wrapped, after Stop.
	ErrStop = errors.New("stopped")
	// ErrStarted is returned, wrapped, by Start of a service that runs
	// already.
	ErrStarted = errors.New("already started")
	// ErrNotStarted is returned by Enter and Err before Start.
	ErrNotStarted = errors.New("not started")
)

type state uint8

const (
	idle state = iota
	starting
	running
	stopping // cancelled: by Stop, or by a Start that failed
)

// Base gives a service its lifecycle; hold one in the service's struct.
// The zero value is ready to use. A Base must not be copied.
type Base struct {
	// Name names the service in the errors of Start and Stop ("app
	// store: already started").
	Name string

	mu     sync.Mutex
	state  state
	run    context.Context
	cancel context.CancelCauseFunc
	// active counts the start-up under way, the goroutines of Go and
	// the work between Enter and Leave: what Stop waits for.
	active int
	// drained is closed when active falls to zero after a cancel.
	drained       chan struct{}
	drainedClosed bool
	// stopped is closed once a Stop has ended the service.
	stopped       chan struct{}
	stoppedClosed bool
	stopAsked     bool
	lastRan       bool
}

// Start starts the service: it makes the service's context, derived from
// ctx (pass context.WithoutCancel(ctx) when ctx only bounds start-up) and
// cancelled by Stop, and calls start with it. start brings the service up
// (bounded by the caller's ctx) and starts its goroutines with Go; it may
// be nil. If start fails, Start cancels the context, waits for the
// goroutines start began, and returns start's error; the service can then
// be started again.
func (b *Base) Start(ctx context.Context, start func(run context.Context) error) error {
	b.mu.Lock()
	switch b.state {
	case starting, running:
		b.mu.Unlock()
		return b.errorf("%w", ErrStarted)
	case stopping:
		b.mu.Unlock()
		return b.errorf("cannot start: %w", ErrStop)
	}
	b.state = starting
	b.run, b.cancel = context.WithCancelCause(ctx)
	b.drained, b.drainedClosed = make(chan struct{}), false
	b.active = 1 // the start-up itself: a Stop meanwhile waits for it
	run := b.run
	b.mu.Unlock()

	var err error
	if start != nil {
		err = start(run)
	}

	b.mu.Lock()
	if err == nil {
		if b.state == starting {
			b.state = running
		}
		b.leave()
		b.mu.Unlock()
		return nil
	}
	if b.state == starting {
		b.state = stopping
		b.cancel(ErrStop)
	}
	drained := b.drained
	b.leave()
	b.mu.Unlock()
	<-drained
	b.mu.Lock()
	if !b.stopAsked {
		b.state, b.run, b.cancel = idle, nil, nil
	}
	b.mu.Unlock()
	return err
}

// StartGo is Start for a service whose start-up is only to run fn on a
// goroutine of its own (see Go).
func (b *Base) StartGo(ctx context.Context, fn func(ctx context.Context)) error {
	return b.Start(ctx, func(context.Context) error {
		b.Go(fn)
		return nil
	})
}

// Go runs fn on a goroutine of the service, with the service's context,
// and reports whether it did: it does not once the service has stopped
// (or before Start). Go may be called during start-up, while the service
// runs, and from the service's own goroutines while it stops.
func (b *Base) Go(fn func(ctx context.Context)) bool {
	b.mu.Lock()
	if b.state == idle || b.state == stopping && b.active == 0 {
		b.mu.Unlock()
		return false
	}
	b.active++
	run := b.run
	b.mu.Unlock()
	go func() {
		defer b.Leave()
		fn(run)
	}()
	return true
}

// Enter begins work that Stop must wait for, done on the caller's
// goroutine (a call in flight), and returns the service's context. It
// fails, as Err does, unless the service runs. Every Enter that
// succeeded must be matched by a Leave.
func (b *Base) Enter() (context.Context, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.err(); err != nil {
		return nil, err
	}
	b.active++
	return b.run, nil
}

// Leave ends work begun by Enter.
func (b *Base) Leave() {
	b.mu.Lock()
	b.leave()
	b.mu.Unlock()
}

// Err reports the service's state: nil while it runs, ErrNotStarted
// before Start has returned, ErrStop once Stop was called.
func (b *Base) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err()
}

func (b *Base) err() error {
	switch b.state {
	case running:
		return nil
	case stopping:
		return ErrStop
	}
	return ErrNotStarted
}

// Stopped returns a channel closed once Stop has ended the service: its
// context is cancelled and its goroutines have returned.
func (b *Base) Stopped() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stoppedChan()
}

// Stop stops the service (see the package documentation) and returns
// nil once its goroutines have returned, or an error wrapping ctx's
// error if ctx ends first.
func (b *Base) Stop(ctx context.Context) error { return b.StopThen(ctx, nil) }

// StopThen is Stop, followed by last(ctx) once the goroutines have
// returned: a service's final step that must not overlap them (removing
// a lease, killing idle workers). last runs at most once, and only for a
// service that was started; its error is returned.
func (b *Base) StopThen(ctx context.Context, last func(ctx context.Context) error) error {
	b.mu.Lock()
	if b.state == idle {
		b.mu.Unlock()
		return nil
	}
	b.stopAsked = true
	if b.state != stopping {
		b.state = stopping
		b.cancel(ErrStop)
	}
	b.settle()
	drained := b.drained
	b.mu.Unlock()

	select {
	case <-drained:
	default:
		select {
		case <-drained:
		case <-ctx.Done():
			return b.errorf("stop: goroutines still running: %w", ctx.Err())
		}
	}
	if last == nil {
		return nil
	}
	b.mu.Lock()
	ran := b.lastRan
	b.lastRan = true
	b.mu.Unlock()
	if ran {
		return nil
	}
	return last(ctx)
}

// errorf formats an error of the service, prefixed with its name.
func (b *Base) errorf(format string, args ...any) error {
	if b.Name != "" {
		format = b.Name + ": " + format
	}
	return fmt.Errorf(format, args...)
}

// leave uncounts one piece of work. Callers hold b.mu.
func (b *Base) leave() {
	b.active--
	b.settle()
}

// settle closes drained once nothing runs after a cancel, and stopped
// when that cancel was Stop's. Callers hold b.mu.
func (b *Base) settle() {
	if b.state != stopping || b.active > 0 {
		return
	}
	if !b.drainedClosed {
		close(b.drained)
		b.drainedClosed = true
	}
	if b.stopAsked && !b.stoppedClosed {
		close(b.stoppedChan())
		b.stoppedClosed = true
	}
}

// stoppedChan makes the stopped channel on first use. Callers hold b.mu.
func (b *Base) stoppedChan() chan struct{} {
	if b.stopped == nil {
		b.stopped = make(chan struct{})
	}
	return b.stopped
}
