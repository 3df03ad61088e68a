// Package async is the write side of WORKFLOW_REPO_MODE=async: records are
// handed to a Redis queue (hibiken/asynq) and a separate persister process
// drains the queue into PostgreSQL.
//
// # Write path (API process)
//
// Writer.Write never waits on the database: it appends the batch to an
// in-memory buffer and returns. A flusher goroutine coalesces buffered
// records for FlushInterval and enqueues them as tasks of up to MaxBatch
// records (one asynq task per record would cap throughput at asynq's task
// rate). When Redis cannot be reached, batches go to an on-disk spool
// directory instead, and a replayer enqueues them once Redis answers again.
//
// With Config.Ack set to AckEnqueued, Write of a batch that finishes a run
// returns only once the batch has left memory: enqueued to Redis, or
// written and fsynced to the spool. The flusher sends batches in order, so
// every earlier record of the run has left too, and a process killed after
// the client saw the run end loses none of it. Waiting writers make the
// flusher flush at once instead of after FlushInterval; the runs that
// finish while one enqueue is under way share the next one (group commit).
//
// The buffer holds at most MaxBuffered records. When it is full while the
// flusher can still make progress (Redis answers, or the spool takes
// batches), Write waits for room: the API slows to the pace Redis takes
// records instead of growing without bound or losing them. Records are
// dropped only when the buffer is full and neither Redis nor the spool
// takes anything (or the caller's context ends first), and then with an
// error log line and the dropped-records metric.
//
// # Read path (persister process)
//
// NewHandler returns the asynq handler that decodes a batch and writes it in
// one transaction through a repo.Writer. Delivery is at least once and in any
// order; the store's versioned upsert (see package repo) makes replays and
// reordering harmless. A batch the store rejects as invalid is archived at
// once (asynq.SkipRetry) with a log line and a metric; any other failure is
// retried with asynq's exponential backoff, then archived.
package async

import (
	"bytes"
	"cmp"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/startstop"
)

// TaskType is the asynq task type of a record batch.
const TaskType = "flowrun:records"

// Defaults for Config.
const (
	DefaultQueue          = "flowrun-records"
	DefaultFlushInterval  = 5 * time.Millisecond
	DefaultMaxBatch       = 500
	DefaultMaxBuffered    = 20_000
	DefaultMaxRetry       = 25
	DefaultEnqueueTimeout = 2 * time.Second
	DefaultReplayInterval = time.Second
)

// Ack says when Write returns for a batch that finishes a run (one holding
// a workflow run record in a terminal status). Batches that do not finish a
// run are always acknowledged once buffered.
type Ack int

const (
	// AckBuffered acknowledges a batch once it is in the memory buffer:
	// Write never waits on Redis, but a process killed within about
	// FlushInterval of a run's end loses its last records.
	AckBuffered Ack = iota
	// AckEnqueued acknowledges a batch that finishes a run once it has left
	// memory: enqueued to Redis, or written and fsynced to the spool. It
	// costs the run one Redis round trip, shared by the runs that finish
	// meanwhile.
	AckEnqueued
)

// String returns the ack mode's name: "buffered" or "enqueued".
func (a Ack) String() string {
	switch a {
	case AckBuffered:
		return "buffered"
	case AckEnqueued:
		return "enqueued"
	}
	return fmt.Sprintf("Ack(%d)", int(a))
}

// ErrInvalidAck is returned by Ack.UnmarshalText for an unknown name.
var ErrInvalidAck = errors.New("want buffered or enqueued")

// UnmarshalText sets a from its name ("buffered" or "enqueued"), so that
// configuration libraries can read it. An unknown name is an error
// wrapping ErrInvalidAck.
func (a *Ack) UnmarshalText(text []byte) error {
	switch string(text) {
	case "buffered":
		*a = AckBuffered
	case "enqueued":
		*a = AckEnqueued
	default:
		return fmt.Errorf("async: invalid ack mode %q: %w", text, ErrInvalidAck)
	}
	return nil
}

// Config tunes a Writer. Zero values take the defaults.
type Config struct {
	// Queue is the asynq queue name (default "flowrun-records").
	Queue string
	// FlushInterval is how long records are coalesced before a flush
	// (default 5 ms).
	FlushInterval time.Duration
	// MaxBatch is the most records per task (default 500).
	MaxBatch int
	// MaxBuffered bounds the records held in memory (default 20,000).
	// Beyond it Write waits while Redis or the spool takes records, and
	// drops them otherwise.
	MaxBuffered int
	// SpoolDir is where batches wait while Redis is unreachable. Empty
	// disables the spool: records then wait in memory only.
	SpoolDir string
	// MaxRetry is asynq's retry count for a failing batch (default 25).
	MaxRetry int
	// EnqueueTimeout bounds one enqueue (default 2 s).
	EnqueueTimeout time.Duration
	// ReplayInterval is how often the spool is retried while Redis is down
	// (default 1 s).
	ReplayInterval time.Duration
	// Logger receives errors (default slog.Default()).
	Logger *slog.Logger
	// Metrics counts what happens to records (default: unregistered).
	Metrics *Metrics
	// Ack says when Write returns for a batch that finishes a run
	// (default AckBuffered).
	Ack Ack
}

func (c Config) withDefaults() Config {
	c.Queue = cmp.Or(c.Queue, DefaultQueue)
	c.FlushInterval = cmp.Or(c.FlushInterval, DefaultFlushInterval)
	c.MaxBatch = cmp.Or(c.MaxBatch, DefaultMaxBatch)
	c.MaxBuffered = cmp.Or(c.MaxBuffered, DefaultMaxBuffered)
	c.MaxRetry = cmp.Or(c.MaxRetry, DefaultMaxRetry)
	c.EnqueueTimeout = cmp.Or(c.EnqueueTimeout, DefaultEnqueueTimeout)
	c.ReplayInterval = cmp.Or(c.ReplayInterval, DefaultReplayInterval)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	return c
}

// Enqueuer is the part of *asynq.Client the writer uses.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Writer is a repo.Writer that queues records for the persister.
type Writer struct {
	cfg Config
	q   Enqueuer

	mu       sync.Mutex
	buf      []entry
	buffered int
	// room is closed (and replaced) when the buffer shrinks or a flush
	// fails: writers waiting for room look again.
	room chan struct{}
	kick chan struct{}
	// urgent tells the flusher that a writer waits for its batch
	// (AckEnqueued): flush now rather than after FlushInterval.
	urgent chan struct{}
	// down is set while Redis is unreachable: flushes go to the spool.
	down atomic.Bool
	// spoolFailing is set while spooling fails.
	spoolFailing atomic.Bool
	spoolN       atomic.Int64
	life         startstop.Base
	// stopped is life.Stopped(), kept for Write's hot path.
	stopped <-chan struct{}
}

// New returns a writer enqueuing through q (an *asynq.Client). Call Start
// before Write and Stop to flush.
func New(q Enqueuer, cfg Config) (*Writer, error) {
	cfg = cfg.withDefaults()
	if cfg.SpoolDir != "" {
		if err := os.MkdirAll(cfg.SpoolDir, 0o755); err != nil {
			return nil, fmt.Errorf("async: spool dir: %w", err)
		}
	}
	w := &Writer{cfg: cfg, q: q, room: make(chan struct{}), kick: make(chan struct{}, 1), urgent: make(chan struct{}, 1)}
	w.life.Name = "async: writer"
	w.stopped = w.life.Stopped()
	return w, nil
}

// entry is a buffered batch and the writers waiting for it to leave
// memory (AckEnqueued). Each channel receives exactly one value: nil once
// Redis or the spool has the batch, or why it was dropped.
type entry struct {
	b    *repo.Batch
	acks []chan error
}

// ack tells e's waiting writers what became of it.
func (e entry) ack(err error) {
	for _, c := range e.acks {
		c <- err
	}
}

// finishes reports whether b holds the end of a run: a workflow run
// record in a terminal status.
func finishes(b *repo.Batch) bool {
	for _, r := range b.Runs {
		if r.Status.Terminal() {
			return true
		}
	}
	return false
}

// Start starts the flusher and the spool replayer, which run until Stop
// (ctx's cancellation does not stop them). Batches spooled by an earlier
// process are replayed too. Starting twice is an error.
func (w *Writer) Start(ctx context.Context) error {
	return w.life.Start(context.WithoutCancel(ctx), func(context.Context) error {
		if n := len(w.spoolFiles()); n > 0 {
			w.spoolN.Store(int64(n))
		}
		w.life.Go(w.loop)
		return nil
	})
}

// Stop flushes every buffered record (to Redis, or to the spool) and stops
// the background goroutines. It returns ctx's error if the flush did not
// finish in time (it then goes on in the background). Stopping twice, or
// a writer never started, is a no-op.
func (w *Writer) Stop(ctx context.Context) error {
	return w.life.Stop(ctx)
}

// Write buffers b for the persister. While the buffer is full and Redis
// or the spool still takes records, it waits for room (see the package
// doc). It returns an error only when b cannot be kept: the buffer is full
// and neither Redis nor the spool takes records, or ctx ends while it
// waits, or the writer has stopped. The records are then dropped, logged
// and counted.
//
// With AckEnqueued, Write of a batch that finishes a run then waits until
// the batch has left memory (see Ack). It returns an error wrapping
// repo.ErrUnavailable if the batch is dropped, or if ctx ends or the writer
// stops first; in the last two cases the batch stays buffered and may
// still be sent. While neither Redis nor the spool takes records, the
// batch stays buffered and Write waits (for ctx).
func (w *Writer) Write(ctx context.Context, b *repo.Batch) error {
	n := b.Len()
	if n == 0 {
		return nil
	}
	e := entry{b: b}
	if w.cfg.Ack == AckEnqueued && finishes(b) {
		e.acks = []chan error{make(chan error, 1)}
	}
	waited := false
	for {
		w.mu.Lock()
		buffered := w.buffered
		// A batch larger than the bound is taken into an empty buffer.
		if buffered == 0 || buffered+n <= w.cfg.MaxBuffered {
			w.buf = append(w.buf, e)
			w.buffered += n
			w.cfg.Metrics.Buffered.Set(float64(w.buffered))
			w.mu.Unlock()
			signal(w.kick)
			if e.acks == nil {
				return nil
			}
			signal(w.urgent)
			return w.awaitAck(ctx, e.acks[0])
		}
		room := w.room
		w.mu.Unlock()
		if !waited {
			waited = true
			w.cfg.Metrics.Waits.Inc()
		}
		var why error
		if w.down.Load() && (!w.spoolUsable() || w.spoolFailing.Load()) {
			why = errNotTaken
		} else {
			select {
			case <-room:
				continue
			case <-ctx.Done():
				why = context.Cause(ctx)
			case <-w.stopped:
				why = errStopped
			}
		}
		w.cfg.Metrics.Dropped.Add(float64(n))
		w.cfg.Logger.Error("async: record buffer full; records dropped", "records", n, "buffered", buffered, "reason", why)
		return fmt.Errorf("async: buffer full (%d records), %w: %w", w.cfg.MaxBuffered, why, repo.ErrUnavailable)
	}
}

// awaitAck waits until the flusher reports on a batch (see Write).
func (w *Writer) awaitAck(ctx context.Context, ack <-chan error) error {
	defer func(start time.Time) { w.cfg.Metrics.AckWait.Observe(time.Since(start).Seconds()) }(time.Now())
	var why error
	select {
	case why = <-ack:
	case <-ctx.Done():
		why = context.Cause(ctx)
	case <-w.stopped:
		why = errStopped
	}
	if why != nil {
		select {
		case why = <-ack: // it left memory meanwhile (or was dropped)
		default:
		}
	}
	if why == nil {
		return nil
	}
	return fmt.Errorf("async: batch finishing a run not enqueued: %w: %w", why, repo.ErrUnavailable)
}

// signal sends on a channel of capacity 1 without blocking: a signal
// already pending stands for this one.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// wake tells writers waiting for room to look again. Callers hold w.mu.
func (w *Writer) wake() {
	close(w.room)
	w.room = make(chan struct{})
}

func (w *Writer) spoolUsable() bool { return w.cfg.SpoolDir != "" }

// loop flushes FlushInterval after the first write of a burst, and replays
// the spool while it is not empty.
func (w *Writer) loop(ctx context.Context) {
	replay := time.NewTicker(w.cfg.ReplayInterval)
	defer replay.Stop()
	for {
		select {
		case <-ctx.Done():
			w.final()
			return
		case <-w.kick:
			// Coalesce for FlushInterval, unless a writer waits for its
			// batch: then flush at once. Writers that arrive during the
			// enqueue are taken by the same flush, in one chunk.
			t := time.NewTimer(w.cfg.FlushInterval)
			select {
			case <-t.C:
			case <-w.urgent:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
				w.final()
				return
			}
			w.flush(ctx, false)
		case <-replay.C:
			if w.down.Load() || w.spoolN.Load() > 0 {
				w.replay(ctx)
				w.flush(ctx, false)
			}
		}
	}
}

// final is the shutdown flush: Redis gets one more chance even if it was
// down, and whatever it does not take goes to the spool.
func (w *Writer) final() {
	w.down.Store(false)
	w.flush(context.Background(), true)
}

// drain takes every buffered batch at once (one swap under the lock, so a
// backlog costs O(n), not O(n) per chunk). The records still count as
// buffered until release: they are in memory until Redis or the spool
// has them.
func (w *Writer) drain() []entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.buf
	w.buf = nil
	return out
}

// release uncounts n records that left memory (sent, spooled or dropped)
// and lets waiting writers in.
func (w *Writer) release(n int) {
	w.mu.Lock()
	w.buffered -= n
	w.cfg.Metrics.Buffered.Set(float64(w.buffered))
	w.wake()
	w.mu.Unlock()
}

// putBack returns unsent batches to the front of the buffer; their
// waiting writers go on waiting.
func (w *Writer) putBack(es []entry) {
	w.mu.Lock()
	w.buf = append(es, w.buf...)
	w.wake() // the flush failed: writers re-check whether to wait
	w.mu.Unlock()
}

// chunk merges the leading entries of es into one of at most MaxBatch
// records (a single larger batch stays whole), with all their waiting
// writers, and returns how many it used.
func (w *Writer) chunk(es []entry) (entry, int) {
	out := entry{b: &repo.Batch{}}
	i := 0
	for i < len(es) && (out.b.Len() == 0 || out.b.Len()+es[i].b.Len() <= w.cfg.MaxBatch) {
		out.b.Append(es[i].b)
		out.acks = append(out.acks, es[i].acks...)
		i++
	}
	return out, i
}

// flush sends the whole buffer: to Redis while it answers, else to the
// spool. With final set (shutdown) nothing is put back: what cannot be
// enqueued or spooled is dropped, loudly.
func (w *Writer) flush(ctx context.Context, final bool) {
	for {
		// This flush serves every writer waiting so far. (A writer that
		// signals between here and drain leaves a stale signal: at most one
		// later flush comes early.)
		select {
		case <-w.urgent:
		default:
		}
		pending := w.drain()
		if len(pending) == 0 {
			return
		}
		for len(pending) > 0 {
			c, n := w.chunk(pending)
			pending = pending[n:]
			records := c.b.Len()
			err := w.send(ctx, c.b)
			if errors.Is(err, errNotTaken) {
				if !final {
					// Keep it in memory and retry on the next replay tick.
					w.putBack(append([]entry{c}, pending...))
					return
				}
				w.cfg.Metrics.Dropped.Add(float64(records))
				w.cfg.Logger.Error("async: shutting down with records that could not be enqueued or spooled; dropped", "records", records)
			}
			w.release(records)
			c.ack(err)
		}
	}
}

// Reasons for refusing or dropping records, wrapped with
// repo.ErrUnavailable.
var (
	// errNotTaken: neither Redis nor the spool takes records (also send's
	// report of a chunk that could go nowhere).
	errNotTaken = errors.New("redis and spool unavailable")
	errStopped  = errors.New("writer stopped")
)

// send enqueues one chunk, or spools it when Redis is down. It returns nil
// once Redis or the spool has the chunk, errNotTaken when neither took it
// (the caller keeps it in memory, or drops it at shutdown), or why it was
// dropped (it cannot be encoded: logged and counted here).
func (w *Writer) send(ctx context.Context, b *repo.Batch) error {
	// Keep only the highest version of each record: a chunk usually holds
	// both the running and the final version of a run, and the store would
	// discard the lower one anyway. The persister's store validates what
	// arrives (and an invalid batch is archived with a log line and a
	// metric), so the api, which built these records itself, does not.
	b = b.Latest()
	payload, err := EncodeBatch(b)
	if err != nil {
		w.cfg.Metrics.Dropped.Add(float64(b.Len()))
		w.cfg.Logger.Error("async: cannot encode batch; records dropped", "records", b.Len(), "error", err)
		return fmt.Errorf("encoding batch: %w", err)
	}
	if !w.down.Load() {
		err := w.enqueue(ctx, payload)
		if err == nil {
			w.cfg.Metrics.Enqueued.Add(float64(b.Len()))
			return nil
		}
		w.down.Store(true)
		w.cfg.Logger.Warn("async: redis unavailable; spooling records", "error", err)
	}
	if w.spoolUsable() {
		err := w.spool(payload)
		w.spoolFailing.Store(err != nil)
		if err == nil {
			w.cfg.Metrics.Spooled.Add(float64(b.Len()))
			return nil
		}
		w.cfg.Logger.Error("async: cannot spool batch", "error", err)
	}
	return errNotTaken
}

func (w *Writer) enqueue(ctx context.Context, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.EnqueueTimeout)
	defer cancel()
	_, err := w.q.EnqueueContext(ctx, asynq.NewTask(TaskType, payload),
		asynq.Queue(w.cfg.Queue), asynq.MaxRetry(w.cfg.MaxRetry))
	return err
}

var spoolSeq atomic.Int64

// spool writes payload to a new file atomically (write, fsync, rename).
func (w *Writer) spool(payload []byte) error {
	name := fmt.Sprintf("%020d-%06d.batch", time.Now().UnixNano(), spoolSeq.Add(1)%1_000_000)
	tmp := filepath.Join(w.cfg.SpoolDir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(payload)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(w.cfg.SpoolDir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	w.spoolN.Add(1)
	return nil
}

func (w *Writer) spoolFiles() []string {
	if w.cfg.SpoolDir == "" {
		return nil
	}
	entries, err := os.ReadDir(w.cfg.SpoolDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".batch") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(w.cfg.SpoolDir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// replay enqueues spooled batches, oldest first, until the spool is empty
// or Redis fails again.
func (w *Writer) replay(ctx context.Context) {
	files := w.spoolFiles()
	for _, path := range files {
		payload, err := os.ReadFile(path)
		if err != nil {
			w.cfg.Logger.Error("async: cannot read spooled batch", "path", path, "error", err)
			continue
		}
		if err := w.enqueue(ctx, payload); err != nil {
			w.down.Store(true)
			return
		}
		w.down.Store(false)
		if err := os.Remove(path); err != nil {
			w.cfg.Logger.Error("async: cannot remove replayed batch (it will be replayed again, harmlessly)", "path", path, "error", err)
		}
		w.spoolN.Add(-1)
		w.cfg.Metrics.Replayed.Inc()
		// Replaying a long outage's spool takes a while: meanwhile new
		// records must go on too, or they pile up in memory (and are
		// dropped beyond MaxBuffered) until the replay ends.
		w.flush(ctx, false)
	}
	if len(files) == 0 {
		w.spoolN.Store(0)
	}
	// The spool drained (or was empty): let the next flush probe Redis.
	w.down.Store(false)
}

// wireBatch is the payload of the older gob and JSON formats.
type wireBatch struct {
	Version        int                   `json:"v"`
	Runs           []*repo.WorkflowRun   `json:"runs,omitempty"`
	NodeExecutions []*repo.NodeExecution `json:"nodes,omitempty"`
	AppLogs        []*repo.AppLog        `json:"logs,omitempty"`
	// SentAt is when the batch left the api's memory (enqueued or
	// spooled); zero from older writers.
	SentAt time.Time `json:"sent_at,omitzero"`
}

// Payload formats. A payload is the byte wireBin, or wireBinChat for a
// batch with chat records, followed by the batch in flowrun's binary
// format (wire.go); from writers before 2026-11-24, the
// byte wireGob followed by a gob stream of one wireBatch; from earlier
// writers, a JSON wireBatch of version wireJSON. Against gob, the binary
// format encodes a 490-record task about 10× faster, decodes it about 5×
// faster, with a fraction of the allocations (go test
// ./internal/repo/async -bench 'EncodeBatch|DecodeBatch'); against JSON,
// gob had decoded 6× faster. Payloads come only from flowrun's own API
// processes; DecodeBatch still checks what it decodes.
const (
	wireJSON    = 1
	wireGob     = 2
	wireBin     = 3
	wireBinChat = 4
)

// EncodeBatch encodes b as a task payload (see wireBin).
func EncodeBatch(b *repo.Batch) ([]byte, error) {
	return encodeBin(b, time.Now()), nil
}

// ErrBadPayload is returned by DecodeBatch for a payload that is not a
// batch.
var ErrBadPayload = errors.New("async: malformed batch payload")

// DecodeBatch decodes a task payload, in either format.
func DecodeBatch(payload []byte) (*repo.Batch, error) {
	b, _, err := decodeTask(payload)
	return b, err
}

// decodeTask decodes a task payload and tells when it was sent (zero if
// the writer did not say).
func decodeTask(payload []byte) (*repo.Batch, time.Time, error) {
	var (
		w   wireBatch
		err error
	)
	switch {
	case len(payload) > 0 && (payload[0] == wireBin || payload[0] == wireBinChat):
		return decodeBin(payload[1:], payload[0] == wireBinChat)
	case len(payload) > 0 && payload[0] == wireGob:
		err = decodeGob(payload[1:], &w)
	default:
		err = decodeJSON(payload, &w)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	b := &repo.Batch{Runs: w.Runs, NodeExecutions: w.NodeExecutions, AppLogs: w.AppLogs}
	if slices.Contains(b.Runs, nil) || slices.Contains(b.NodeExecutions, nil) || slices.Contains(b.AppLogs, nil) {
		return nil, time.Time{}, fmt.Errorf("%w: null record", ErrBadPayload)
	}
	return b, w.SentAt, nil
}

func decodeGob(data []byte, w *wireBatch) error {
	r := bytes.NewReader(data)
	if err := gob.NewDecoder(r).Decode(w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if w.Version != wireGob {
		return fmt.Errorf("%w: gob payload of version %d", ErrBadPayload, w.Version)
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: trailing data", ErrBadPayload)
	}
	return nil
}

func decodeJSON(data []byte, w *wireBatch) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if w.Version != wireJSON {
		return fmt.Errorf("%w: JSON payload of version %d", ErrBadPayload, w.Version)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrBadPayload)
	}
	return nil
}

// NewHandler returns the persister's task handler: it writes each batch
// through store in one call (one transaction for the sql store).
func NewHandler(store repo.Writer, log *slog.Logger, m *Metrics) asynq.Handler {
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		b, sent, err := decodeTask(t.Payload())
		if err == nil {
			start := time.Now()
			if !sent.IsZero() {
				m.Queue.Observe(max(0, start.Sub(sent).Seconds()))
			}
			if err = store.Write(ctx, b); err == nil {
				now := time.Now()
				m.Write.Observe(now.Sub(start).Seconds())
				for _, r := range b.Runs {
					if r.Status.Terminal() && !r.FinishedAt.IsZero() {
						m.Lag.Observe(max(0, now.Sub(r.FinishedAt).Seconds()))
					}
				}
			}
		}
		switch {
		case err == nil:
			m.Persisted.Add(float64(b.Len()))
			return nil
		case errors.Is(err, ErrBadPayload) || errors.Is(err, repo.ErrInvalid) || errors.Is(err, repo.ErrConflict):
			// Retrying cannot help: archive it for inspection.
			m.Rejected.Inc()
			log.Error("persister: batch rejected; archived", "error", err)
			return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
		default:
			m.WriteErrors.Inc()
			return err
		}
	})
}
