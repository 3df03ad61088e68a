package code

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/startstop"
)

// Languages of a code node's code_language.
const (
	LangPython     = "python3"
	LangJavaScript = "javascript"
)

// Sentinel errors. Node failures are *run.NodeError values wrapping these
// where one applies, so callers can test them with errors.Is.
var (
	// ErrNotStarted is returned by executions before Runner.Start.
	ErrNotStarted = errors.New("code runner is not started")
	// ErrStopped is returned by executions during and after Runner.Stop.
	ErrStopped = errors.New("code runner is stopped")
	// ErrTimeout is an execution that overran Config.Timeout.
	ErrTimeout = errors.New("code execution timed out")
	// ErrMemoryLimit is a JavaScript execution stopped by the memory
	// watchdog.
	ErrMemoryLimit = errors.New("code execution exceeded the memory limit")
	// ErrResultTooLarge is a result over Config.MaxResultBytes.
	ErrResultTooLarge = errors.New("code result is too large")
	// ErrWorkerDied is a code process that ended during an execution
	// (os._exit, a crash, RLIMIT_CPU or RLIMIT_AS).
	ErrWorkerDied = errors.New("code worker exited unexpectedly")
	// ErrPythonUnavailable is a Python interpreter that cannot be started.
	ErrPythonUnavailable = errors.New("python3 is unavailable")
	// ErrNetworkBlocked marks a destination that Config.PythonDial
	// refuses: the code gets a PermissionError.
	ErrNetworkBlocked = errors.New("network destination blocked")
	// ErrIsolationUnavailable is a kernel that cannot confine Python code
	// (see Config.PythonUnconfined).
	ErrIsolationUnavailable = errors.New("code isolation is unavailable")
)

// Runner executes code nodes. It owns the JavaScript runtimes, the Python
// worker processes or the HTTP client of CODE_EXECUTION_ENDPOINT; Start
// brings them up and Stop tears them down. A Runner is safe for concurrent
// use.
type Runner struct {
	cfg   Config
	check checker
	life  startstop.Base

	// The runtimes, set by Start before the Runner runs.
	js      *jsRunner
	py      *pyRunner
	sandbox *sandboxRunner
}

// New returns a Runner for cfg; call Start before use.
func New(cfg Config) (*Runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("code: invalid config: %w", err)
	}
	rn := &Runner{cfg: cfg, check: checker{l: cfg.Limits}}
	rn.life.Name = "code runner"
	return rn, nil
}

// Register creates a Runner for cfg and registers the "code" node type
// (honouring retry_config) in r. The Runner must be started before
// workflows using code nodes run, and stopped on shutdown.
func Register(r *run.Registry, cfg Config) (*Runner, error) {
	rn, err := New(cfg)
	if err != nil {
		return nil, err
	}
	r.Register(rn.NodeType())
	return rn, nil
}

// NodeType is the "code" node type backed by this Runner.
func (rn *Runner) NodeType() run.NodeType {
	return run.NodeType{Name: "code", Build: rn.build, Retry: true}
}

// Start starts the runtimes: the JavaScript pool and its memory watchdog,
// and the Python workers (it fails fast when python3 cannot be started).
// With Config.Endpoint set it only prepares the HTTP client. ctx bounds
// start-up only. Starting twice is an error.
func (rn *Runner) Start(ctx context.Context) error {
	return rn.life.Start(context.WithoutCancel(ctx), func(base context.Context) error {
		if rn.cfg.Endpoint != "" {
			rn.sandbox = newSandboxRunner(rn.cfg)
		} else {
			js, err := newJSRunner(rn.cfg, base)
			if err == nil {
				err = js.start(ctx)
			}
			if err != nil {
				return fmt.Errorf("code: start javascript: %w", err)
			}
			py, err := newPyRunner(rn.cfg, base)
			if err == nil {
				err = py.start(ctx)
			}
			if err != nil {
				_ = js.stop(context.WithoutCancel(ctx)) // no call in flight yet
				return fmt.Errorf("code: start python: %w", err)
			}
			rn.js, rn.py = js, py
		}
		// The teardown runs once Stop cancels base; Stop waits for it.
		rn.life.Go(func(base context.Context) {
			<-base.Done()
			rn.teardown()
		})
		return nil
	})
}

// teardown kills the Python workers and the JavaScript pool, whose calls
// in flight base's end has interrupted, and waits for them to exit.
func (rn *Runner) teardown() {
	if rn.py != nil {
		rn.py.stop()
	}
	if rn.js != nil {
		_ = rn.js.stop(context.Background()) // bounded: its calls are killed
	}
	if rn.sandbox != nil {
		rn.sandbox.close()
	}
}

// Stop interrupts running executions, kills the Python workers and waits
// for them to exit. It returns ctx's error if that takes longer than ctx
// allows (the teardown still completes in the background). Stopping
// twice, or a Runner never started, is a no-op.
func (rn *Runner) Stop(ctx context.Context) error { return rn.life.Stop(ctx) }

// Run executes code in language with inputs (passed to main as keyword
// arguments in Python, as one object in JavaScript) and returns main's
// result, decoded, with its top-level keys in order. Failures are
// *run.NodeError values of type CodeExecutionError, except ctx's own
// cancellation, which is returned as context.Cause(ctx).
func (rn *Runner) Run(ctx context.Context, language, code string, inputs map[string]any) (keys []string, result map[string]any, err error) {
	raw, err := rn.exec(ctx, language, code, inputs)
	if err != nil {
		return nil, nil, err
	}
	return decodeResult(raw)
}

func (rn *Runner) exec(ctx context.Context, language, code string, inputs map[string]any) ([]byte, error) {
	switch err := rn.life.Err(); {
	case errors.Is(err, startstop.ErrNotStarted):
		return nil, ErrNotStarted
	case err != nil:
		return nil, ErrStopped
	}
	if language != LangPython && language != LangJavaScript {
		return nil, &run.NodeError{Type: TypeCodeNode, Err: fmt.Errorf("Unsupported code language: %s", language)}
	}
	if rn.sandbox != nil {
		return rn.sandbox.run(ctx, language, code, inputs)
	}
	if language == LangJavaScript {
		return rn.js.run(ctx, code, inputs)
	}
	return rn.py.run(ctx, code, inputs)
}

// Isolation describes how Python code is actually confined, which
// depends on the kernel and on the privileges the service has (see the
// package documentation).
type Isolation struct {
	// Landlock is the Landlock ABI version the zygote restricted itself
	// with; 0 when Python code runs unconfined or cannot run.
	Landlock int
	// NetNS is set when the zygote runs in a private network namespace.
	NetNS bool
	// DroppedPrivileges is set when the zygote runs as
	// Config.PythonUID/GID instead of root.
	DroppedPrivileges bool
	// Disabled explains why Python code cannot run here; empty when it
	// can.
	Disabled string
}

// PythonIsolation reports the confinement of Python code; it is the zero
// value before Start or with Config.Endpoint.
func (rn *Runner) PythonIsolation() Isolation {
	if rn.py == nil {
		return Isolation{}
	}
	return Isolation{Landlock: int(rn.py.landlck.Load()), NetNS: rn.py.netns.Load(),
		DroppedPrivileges: rn.py.drop.Load(), Disabled: rn.py.disabled}
}

// PythonProcesses reports how many Python child processes have been
// forked so far (one per call, plus the warm ones).
func (rn *Runner) PythonProcesses() int64 {
	if rn.py == nil {
		return 0
	}
	return rn.py.forks.Load()
}

// ---- the node ----

type variable struct {
	Variable      string       `json:"variable"`
	ValueSelector run.Selector `json:"value_selector"`
}

type node struct {
	rn        *Runner
	language  string
	code      string
	variables []variable
	outputs   map[string]*Output
}

func (rn *Runner) build(b *run.Build) (run.Executor, error) {
	var cfg struct {
		CodeLanguage string             `json:"code_language"`
		Code         string             `json:"code"`
		Variables    []variable         `json:"variables"`
		Outputs      map[string]*Output `json:"outputs"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.CodeLanguage != LangPython && cfg.CodeLanguage != LangJavaScript {
		b.Errorf("code_language: must be %s or %s, got %q", LangPython, LangJavaScript, cfg.CodeLanguage)
	}
	seen := map[string]bool{}
	for i, v := range cfg.Variables {
		switch {
		case v.Variable == "":
			b.Errorf("variables[%d]: variable has no name", i)
		case seen[v.Variable]:
			b.Errorf("variables[%d]: duplicate variable %q", i, v.Variable)
		}
		seen[v.Variable] = true
		if len(v.ValueSelector) > 0 {
			b.Selector(fmt.Sprintf("variables[%d].value_selector", i), v.ValueSelector)
		}
	}
	if cfg.Outputs == nil {
		cfg.Outputs = map[string]*Output{}
	}
	checkOutputs(b, "outputs", cfg.Outputs)
	return &node{rn: rn, language: cfg.CodeLanguage, code: cfg.Code, variables: cfg.Variables, outputs: cfg.Outputs}, nil
}

func checkOutputs(b *run.Build, field string, outs map[string]*Output) {
	for name, o := range outs {
		f := field + "." + name
		if o == nil {
			b.Errorf("%s: output has no type", f)
			continue
		}
		if !validOutputType(o.Type) {
			b.Errorf("%s: invalid type for code output, expected %v, actual %s", f, outputTypes, o.Type)
		}
		if o.Children != nil {
			checkOutputs(b, f+".children", o.Children)
		}
	}
}

// Execute resolves the variables, runs the code and checks its result
// against the declared outputs.
func (n *node) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	inputs := make(run.Vars, len(n.variables))
	args := make(map[string]any, len(n.variables))
	for i, v := range n.variables {
		var val any
		if len(v.ValueSelector) > 0 {
			val, _ = x.Pool.Get(v.ValueSelector)
		}
		inputs[i] = run.Var{Name: v.Variable, Value: val}
		args[v.Variable] = val
	}
	res := &run.Result{Inputs: inputs}
	keys, result, err := n.rn.Run(ctx, n.language, n.code, args)
	if err != nil {
		return res, err
	}
	out, err := n.rn.check.transform(result, n.outputs, "", 1)
	if err != nil {
		return res, err
	}
	// Dify orders outputs as declared; the DSL's key order is not kept by
	// the time a node is built, so use the order main returned them in.
	vs := make(run.Vars, 0, len(out))
	for _, k := range keys {
		if v, ok := out[k]; ok {
			vs = append(vs, run.Var{Name: k, Value: run.Normalize(v)})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if !slices.Contains(keys, k) {
			vs = append(vs, run.Var{Name: k, Value: run.Normalize(out[k])})
		}
	}
	res.Outputs = vs
	return res, nil
}
