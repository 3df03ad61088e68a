package code

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/flowrun/flowrun/internal/procpool"
	"github.com/flowrun/flowrun/internal/run"
)

// JavaScript runs in worker processes: the service's own binary started
// again with workerEnvVar set, which WorkerMain turns into a worker. A
// worker runs one call at a time under RLIMIT_DATA, so an allocation that
// would take down the service (new ArrayBuffer(2**40), a runaway array)
// ends only that worker: the call fails with ErrMemoryLimit and the pool
// starts a replacement. A script whose memory grows step by step is
// interrupted at seven eighths of the limit (procpool.WatchMemory) and
// fails with ErrMemoryLimit too. A worker that a call left near its limit
// answers and is replaced (procpool.Worn), so no call inherits the memory
// another left mapped. Each call gets a fresh runtime.

// workerEnvVar marks a process started as a code worker.
const workerEnvVar = "FLOWRUN_CODE_WORKER"

// jsWorkerConfig is what a worker needs; it travels in its environment.
type jsWorkerConfig struct {
	Timeout     time.Duration `json:"timeout"`
	MaxResult   int           `json:"max_result"`
	MaxString   int           `json:"max_string"`
	MaxStack    int           `json:"max_stack"`
	MemoryLimit int64         `json:"memory_limit"`
}

// WorkerMain turns this process into a code worker when the Runner
// started it as one, and never returns then; otherwise it returns at
// once. Call it first thing in main, and in TestMain of every package
// whose tests start a Runner: JavaScript workers are this binary.
func WorkerMain() {
	if os.Getenv(workerEnvVar) != "javascript" {
		return
	}
	var cfg jsWorkerConfig
	if err := json.Unmarshal([]byte(os.Getenv(workerEnvVar+"_CONFIG")), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "flowrun code worker: bad configuration:", err)
		os.Exit(2)
	}
	if err := confineJSWorker(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "flowrun code worker:", err)
		os.Exit(2)
	}
	os.Exit(serveJS(cfg, os.Stdin, os.Stdout))
}

type jsRequest struct {
	Code   string          `json:"code"`
	Inputs json.RawMessage `json:"inputs"`
}

type jsReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Kind   string          `json:"kind,omitempty"` // "timeout", "memory", "too_large"
	// Retire is set by a worker that is procpool.Worn after the call.
	Retire bool `json:"retire,omitempty"`
}

// serveJS answers requests, one line each way, until in closes.
func serveJS(cfg jsWorkerConfig, in io.Reader, out io.Writer) int {
	progs := newProgramCache(256)
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(w)
	if procpool.Ready(w) != nil || w.Flush() != nil {
		return 1
	}
	// The next call's runtime is built while the worker waits for it.
	next, _ := newJSVM(cfg.MaxString, cfg.MaxStack)
	for {
		line, err := procpool.ReadLine(r, 1<<30)
		if err != nil {
			return 0
		}
		var req jsRequest
		var rep jsReply
		if err := json.Unmarshal(line, &req); err != nil {
			rep.Error = "invalid request: " + err.Error()
		} else {
			rep = runJS(cfg, progs, next, req)
		}
		rep.Retire = procpool.Worn()
		if enc.Encode(rep) != nil || w.Flush() != nil {
			return 1
		}
		next, _ = newJSVM(cfg.MaxString, cfg.MaxStack)
	}
}

// runJS runs one call in vm, a fresh runtime (nil: build one),
// interrupted at cfg.Timeout.
func runJS(cfg jsWorkerConfig, progs *programCache, vm *jsVM, req jsRequest) jsReply {
	prog, err := progs.get(req.Code)
	if err != nil {
		return jsReply{Error: err.Error()}
	}
	if vm == nil {
		if vm, err = newJSVM(cfg.MaxString, cfg.MaxStack); err != nil {
			return jsReply{Error: err.Error()}
		}
	}
	var timedOut, tooBig atomic.Bool
	t := time.AfterFunc(cfg.Timeout, func() {
		timedOut.Store(true)
		vm.rt.Interrupt(ErrTimeout)
	})
	stopWatch := procpool.WatchMemory(func() {
		tooBig.Store(true)
		vm.rt.Interrupt(ErrMemoryLimit)
	})
	inputs := string(req.Inputs)
	if inputs == "" || inputs == "null" {
		inputs = "{}"
	}
	out, callErr, _ := vm.call(prog, inputs)
	stopWatch()
	t.Stop()
	switch {
	case timedOut.Load():
		return jsReply{Error: "timeout", Kind: "timeout"}
	case tooBig.Load() && callErr != nil:
		return jsReply{Error: "memory", Kind: "memory"}
	case callErr != nil:
		return jsReply{Error: callErr.Error()}
	case len(out) > cfg.MaxResult:
		return jsReply{Error: fmt.Sprintf("%d bytes, limit %d", len(out), cfg.MaxResult), Kind: "too_large"}
	}
	return jsReply{Result: json.RawMessage(out)}
}

// jsRunner runs JavaScript in a pool of worker processes.
type jsRunner struct {
	cfg  Config
	base context.Context
	pool *procpool.Pool
}

func newJSRunner(cfg Config, base context.Context) (*jsRunner, error) {
	wc, err := json.Marshal(jsWorkerConfig{Timeout: cfg.Timeout, MaxResult: cfg.MaxResultBytes,
		MaxString: cfg.JSMaxStringLength, MaxStack: cfg.JSMaxCallStackSize, MemoryLimit: cfg.JSMemoryLimit})
	if err != nil {
		return nil, err
	}
	pool, err := procpool.New(base, procpool.Config{
		Name: "JavaScript worker", Size: cfg.JSPoolSize, Hint: " (does main call code.WorkerMain first?)",
		Env: []string{workerEnvVar + "=javascript", workerEnvVar + "_CONFIG=" + string(wc), "GOMAXPROCS=1", "GOTRACEBACK=none"},
	})
	if err != nil {
		return nil, err
	}
	return &jsRunner{cfg: cfg, base: base, pool: pool}, nil
}

// start starts the pool's workers; it fails if one cannot start.
func (j *jsRunner) start(ctx context.Context) error { return j.pool.Start(ctx) }

// stop kills every worker and waits for calls and replacements to end,
// at most until ctx is done.
func (j *jsRunner) stop(ctx context.Context) error { return j.pool.Stop(ctx) }

// activeCount reports calls in flight (waiting for a worker included).
func (j *jsRunner) activeCount() int { return j.pool.Active() }

// run executes code in a worker and returns main's result as JSON.
func (j *jsRunner) run(ctx context.Context, code string, inputs map[string]any) ([]byte, error) {
	if _, err := compileJSCached(code); err != nil {
		return nil, err
	}
	in, err := json.Marshal(inputs)
	if err != nil {
		return nil, execError("cannot pass inputs to code: %v", err)
	}
	req, err := json.Marshal(jsRequest{Code: code, Inputs: in})
	if err != nil {
		return nil, execError("cannot pass inputs to code: %v", err)
	}
	req = append(req, '\n')
	// The worker interrupts the script at Timeout; the kill a second
	// later covers a native call that never looks at interrupts.
	hard, cancel := context.WithTimeoutCause(ctx, j.cfg.Timeout+time.Second, ErrTimeout)
	defer cancel()
	var rep jsReply
	err = j.pool.Do(hard, func(p *procpool.Proc) error {
		if _, err := p.In.Write(req); err != nil {
			return err
		}
		line, err := procpool.ReadLine(p.Out, j.cfg.MaxResultBytes+(64<<10))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(line, &rep); err != nil {
			return fmt.Errorf("%w: %v", errBadReply, err)
		}
		if rep.Retire {
			return procpool.ErrRetire
		}
		return nil
	})
	var f *procpool.Failure
	switch {
	case errors.Is(err, procpool.ErrStopped):
		return nil, ErrStopped
	case errors.As(err, &f):
		switch {
		case hard.Err() != nil:
			if cause := context.Cause(hard); !errors.Is(cause, ErrTimeout) {
				return nil, cause
			}
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w after %s (the JavaScript worker was killed)", ErrTimeout, j.cfg.Timeout)}
		case errors.Is(err, procpool.ErrLineTooLong):
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: limit %d bytes", ErrResultTooLarge, j.cfg.MaxResultBytes)}
		case errors.Is(err, errBadReply):
			return nil, execError("invalid reply from the JavaScript worker: %v", f.Err)
		case f.OutOfMemory():
			return nil, j.memoryError()
		}
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %s", ErrWorkerDied, f.Exit())}
	case err != nil:
		return nil, err
	}
	switch rep.Kind {
	case "timeout":
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w after %s", ErrTimeout, j.cfg.Timeout)}
	case "memory":
		return nil, j.memoryError()
	case "too_large":
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %s", ErrResultTooLarge, rep.Error)}
	}
	if rep.Error != "" {
		return nil, execError("%s", rep.Error)
	}
	return rep.Result, nil
}

// memoryError is the error of a call that met the memory limit, whether
// the worker ended it (procpool.WatchMemory) or died of it.
func (j *jsRunner) memoryError() error {
	return &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: JavaScript used more than %d bytes", ErrMemoryLimit, j.cfg.JSMemoryLimit)}
}

// errBadReply marks a reply the service cannot decode.
var errBadReply = errors.New("invalid reply")

// apiPrograms caches compilation on the service's side, so that a syntax
// error is reported without a round trip and a worker sees only code
// that compiles.
var apiPrograms = newProgramCache(256)

func compileJSCached(code string) (*goja.Program, error) { return apiPrograms.get(code) }
