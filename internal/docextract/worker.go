package docextract

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/flowrun/flowrun/internal/nodes/code"
	"github.com/flowrun/flowrun/internal/procpool"
)

// workerEnvVar marks a process started as a document worker; its value
// is the worker's configuration (JSON).
const workerEnvVar = "FLOWRUN_DOC_WORKER"

// WorkerConfig configures the document workers.
type WorkerConfig struct {
	// Workers is the number of worker processes (default 2): at most that
	// many documents are read at once.
	Workers int `json:"workers"`
	// MemoryLimit bounds each worker's memory in bytes (default 1 GiB).
	MemoryLimit int64 `json:"memory_limit"`
	// Timeout bounds one extraction (default 60 s); the caller's context
	// may end it sooner.
	Timeout time.Duration `json:"timeout"`
	// Limits bound what one extraction produces and decompresses.
	Limits Limits `json:"limits"`
	// PDF configures PDFium in the workers.
	PDF PDFConfig `json:"pdf"`
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c WorkerConfig) WithDefaults() WorkerConfig {
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.MemoryLimit <= 0 {
		c.MemoryLimit = 1 << 30
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Minute
	}
	c.Limits = c.Limits.WithDefaults()
	if c.PDF.MemoryLimit <= 0 {
		c.PDF.MemoryLimit = c.MemoryLimit / 2
	}
	return c
}

// WorkerMain turns this process into a document worker when Workers
// started it as one, and never returns then; otherwise it returns at
// once. Call it first thing in main, and in TestMain of every package
// whose tests start Workers.
func WorkerMain() {
	env := os.Getenv(workerEnvVar)
	if env == "" {
		return
	}
	var cfg WorkerConfig
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "flowrun document worker: bad configuration:", err)
		os.Exit(2)
	}
	if err := code.ConfineWorker(cfg.MemoryLimit); err != nil {
		fmt.Fprintln(os.Stderr, "flowrun document worker:", err)
		os.Exit(2)
	}
	// PDFium loads with the first PDF (a fraction of a second from the
	// compilation cache), so that idle workers cost no CPU at start.
	SetPDFConfig(cfg.PDF)
	os.Exit(serve(cfg, os.Stdin, os.Stdout))
}

// request is the header line of a call; Size bytes of document follow.
type request struct {
	Kind Kind `json:"kind"`
	Size int  `json:"size"`
}

// reply is the answer line: the text, or the error's type and message.
type reply struct {
	Text  string `json:"text"`
	Type  string `json:"type,omitempty"`
	Error string `json:"error,omitempty"`
	// Retire is set by a worker that is procpool.Worn after the call.
	Retire bool `json:"retire,omitempty"`
}

// serve answers requests until in closes.
func serve(cfg WorkerConfig, in io.Reader, out io.Writer) int {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(w)
	if procpool.Ready(w) != nil || w.Flush() != nil {
		return 1
	}
	for {
		line, err := procpool.ReadLine(r, 4<<10)
		if err != nil {
			return 0
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil || req.Size < 0 {
			return 1
		}
		data := make([]byte, req.Size)
		if _, err := io.ReadFull(r, data); err != nil {
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		var tooBig atomic.Bool
		stopWatch := procpool.WatchMemory(func() {
			tooBig.Store(true)
			cancel()
		})
		text, err := Extract(ctx, req.Kind, data, cfg.Limits)
		stopWatch()
		cancel()
		rep := reply{Text: text}
		if err != nil && tooBig.Load() {
			err = failed("Failed to extract text from %s: %s", labels[req.Kind], memoryWhy(cfg))
		}
		if err != nil {
			rep = reply{Type: TypeExtraction, Error: err.Error()}
			var de *Error
			if errors.As(err, &de) {
				rep.Type = de.Type
			}
		}
		rep.Retire = procpool.Worn()
		if enc.Encode(rep) != nil || w.Flush() != nil {
			return 1
		}
	}
}

// Workers extracts text in a pool of worker processes: the service's own
// binary started again (see WorkerMain), each confined as a JavaScript
// worker is (code.ConfineWorker) and bounded in memory, so that a hostile
// document ends only its worker, which is replaced.
type Workers struct {
	cfg  WorkerConfig
	pool *procpool.Pool
}

// NewWorkers returns the workers, not started. Cancelling base kills the
// workers of extractions in flight; Stop must still be called.
func NewWorkers(base context.Context, cfg WorkerConfig) (*Workers, error) {
	cfg = cfg.WithDefaults()
	env, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := procpool.New(base, procpool.Config{
		Name: "document worker", Size: cfg.Workers, Hint: " (does main call docextract.WorkerMain first?)",
		Env: []string{workerEnvVar + "=" + string(env), "GOMAXPROCS=1", "GOTRACEBACK=none",
			"HOME=" + os.Getenv("HOME"), "XDG_CACHE_HOME=" + os.Getenv("XDG_CACHE_HOME")},
	})
	if err != nil {
		return nil, err
	}
	return &Workers{cfg: cfg, pool: pool}, nil
}

// Start starts the worker processes (ctx bounds the start-up). Starting
// twice is an error.
func (w *Workers) Start(ctx context.Context) error { return w.pool.Start(ctx) }

// Stop kills the workers and waits for extractions in flight to end, at
// most until ctx is done. Stopping twice, or workers never started, is a
// no-op.
func (w *Workers) Stop(ctx context.Context) error { return w.pool.Stop(ctx) }

// Starts reports how many workers have started, replacements included.
func (w *Workers) Starts() int64 { return w.pool.Starts() }

// Limits returns the limits the workers apply.
func (w *Workers) Limits() Limits { return w.cfg.Limits }

// Extract converts data, a document of kind k, to text in a worker. Its
// errors are *Error with Dify's message, or ctx's cause when ctx ended
// first.
func (w *Workers) Extract(ctx context.Context, k Kind, data []byte) (string, error) {
	hard, cancel := context.WithTimeout(ctx, w.cfg.Timeout+time.Second)
	defer cancel()
	header, err := json.Marshal(request{Kind: k, Size: len(data)})
	if err != nil {
		return "", err
	}
	var rep reply
	err = w.pool.Do(hard, func(p *procpool.Proc) error {
		if _, err := p.In.Write(append(header, '\n')); err != nil {
			return err
		}
		if _, err := p.In.Write(data); err != nil {
			return err
		}
		// JSON may escape a byte of text as six ("\u0000").
		line, err := procpool.ReadLine(p.Out, int(6*w.cfg.Limits.MaxText)+(64<<10))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(line, &rep); err != nil {
			return err
		}
		if rep.Retire {
			return procpool.ErrRetire
		}
		return nil
	})
	var f *procpool.Failure
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return "", context.Cause(ctx)
	case errors.Is(err, procpool.ErrStopped):
		return "", err
	case errors.As(err, &f):
		return "", workerError(k, f, w.cfg)
	default:
		return "", err
	}
	if rep.Error != "" {
		return "", &Error{Type: rep.Type, Msg: rep.Error, Err: sentinel(rep.Type)}
	}
	return rep.Text, nil
}

func sentinel(typ string) error {
	if typ == TypeUnsupported {
		return ErrUnsupported
	}
	return ErrExtraction
}

// workerError words the failure of a worker as Dify's extraction error.
func workerError(k Kind, f *procpool.Failure, cfg WorkerConfig) error {
	var why string
	switch {
	case f.Killed:
		why = "timed out after " + cfg.Timeout.String() + " (the document worker was killed)"
	case errors.Is(f, procpool.ErrLineTooLong):
		why = "the text is longer than " + strconv.FormatInt(cfg.Limits.MaxText, 10) + " bytes"
	case f.OutOfMemory():
		why = memoryWhy(cfg)
	default:
		why = "the document worker died: " + f.Exit()
	}
	err := failed("Failed to extract text from %s: %s", labels[k], why)
	err.(*Error).Err = fmt.Errorf("%w: %w", ErrExtraction, ErrWorker)
	return err
}

// ErrWorker is wrapped by the errors of extractions whose worker failed
// (killed at the timeout, out of memory, crashed).
var ErrWorker = errors.New("document worker failed")

// memoryWhy says that a document met the workers' memory limit, whether
// the worker ended its extraction (procpool.WatchMemory) or died of it.
func memoryWhy(cfg WorkerConfig) string {
	return "reading the document needs more than " + strconv.FormatInt(cfg.MemoryLimit, 10) + " bytes of memory"
}
