package code

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"

	"github.com/flowrun/flowrun/internal/run"
)

// The JavaScript runner keeps a pool of goja runtimes. Each runtime is
// prepared once (prelude.js): a console that discards output, guards on
// the string builtins that allocate in one native call, and every
// intrinsic reachable from globalThis frozen, so that no run can stash
// data on Array.prototype & co. for a later run. User code is compiled as
// the body of a function, so its declarations are local to the call; after
// each call the global object is put back to its snapshot (new properties
// deleted, replaced ones restored). A runtime that cannot be restored, was
// interrupted or panicked is thrown away and replaced.

// jsPrelude is run once per runtime; it is a function of the string length
// cap.
const jsPrelude = `(function (maxLen) {
'use strict';
const g = globalThis;
const noop = function () {};
const con = {};
for (const k of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'table', 'time', 'timeEnd', 'timeLog',
		'assert', 'group', 'groupCollapsed', 'groupEnd', 'count', 'countReset']) {
	con[k] = noop;
}
Object.defineProperty(g, 'console', {value: con, writable: true, enumerable: false, configurable: true});

const SP = String.prototype;
const repeat = SP.repeat, padStart = SP.padStart, padEnd = SP.padEnd;
const tooLong = function () { return new RangeError('Invalid string length'); };
Object.defineProperty(SP, 'repeat', {writable: true, enumerable: false, configurable: true, value: {
	repeat(count) {
		const n = Number(count);
		if (n > 0 && n !== Infinity && String(this).length * Math.floor(n) > maxLen) throw tooLong();
		return repeat.call(this, count);
	}}.repeat});
Object.defineProperty(SP, 'padStart', {writable: true, enumerable: false, configurable: true, value: {
	padStart(len, fill) {
		if (Number(len) > maxLen) throw tooLong();
		return padStart.call(this, len, fill);
	}}.padStart});
Object.defineProperty(SP, 'padEnd', {writable: true, enumerable: false, configurable: true, value: {
	padEnd(len, fill) {
		if (Number(len) > maxLen) throw tooLong();
		return padEnd.call(this, len, fill);
	}}.padEnd});

// Freeze every intrinsic. Properties that ordinary code assigns on its own
// objects (obj.toString = ..., this.name = ... in an Error subclass) would
// then fail (the "override mistake"), so those become accessors whose
// setter defines the property on the receiver.
const tame = ['constructor', 'toString', 'toLocaleString', 'valueOf', 'name', 'message', 'hasOwnProperty',
	'isPrototypeOf', 'propertyIsEnumerable', 'then', 'catch', 'finally'];
const seen = new Set();
const todo = [];
for (const k of Reflect.ownKeys(g)) {
	const d = Reflect.getOwnPropertyDescriptor(g, k);
	if ('value' in d) { if (d.value !== g) todo.push(d.value); } else { todo.push(d.get, d.set); }
}
todo.push(Object.getPrototypeOf(g));
while (todo.length > 0) {
	const o = todo.pop();
	if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
	seen.add(o);
	for (const k of Reflect.ownKeys(o)) {
		const d = Reflect.getOwnPropertyDescriptor(o, k);
		if ('value' in d) {
			todo.push(d.value);
			if (d.writable && d.configurable && tame.indexOf(k) >= 0) {
				const value = d.value, owner = o, key = k;
				Object.defineProperty(o, k, {enumerable: d.enumerable, configurable: false,
					get: function () { return value; },
					set: function (v) {
						if (this === owner) throw new TypeError('Cannot assign to read only property \'' + key + '\'');
						Object.defineProperty(this, key, {value: v, writable: true, enumerable: true, configurable: true});
					}});
			}
		} else {
			todo.push(d.get, d.set);
		}
	}
	todo.push(Object.getPrototypeOf(o));
	Object.freeze(o);
}
})`

var (
	preludeOnce sync.Once
	preludeProg *goja.Program
	preludeErr  error
)

// errMemory is the interrupt value of the memory watchdog.
var errMemory = errors.New("memory limit exceeded")

type jsVM struct {
	rt        *goja.Runtime
	stringify goja.Callable
	parse     goja.Callable
	jsonObj   goja.Value
	globals   map[string]goja.Value
	nsyms     int

	mu      sync.Mutex
	running bool
	hit     any // what interrupted the current call, if anything
}

func newJSVM(cfg Config) (*jsVM, error) {
	preludeOnce.Do(func() { preludeProg, preludeErr = goja.Compile("prelude.js", jsPrelude, true) })
	if preludeErr != nil {
		return nil, preludeErr
	}
	rt := goja.New()
	rt.SetMaxCallStackSize(cfg.JSMaxCallStackSize)
	fn, err := rt.RunProgram(preludeProg)
	if err != nil {
		return nil, fmt.Errorf("javascript prelude: %w", err)
	}
	prelude, _ := goja.AssertFunction(fn)
	if _, err := prelude(goja.Undefined(), rt.ToValue(cfg.JSMaxStringLength)); err != nil {
		return nil, fmt.Errorf("javascript prelude: %w", err)
	}
	vm := &jsVM{rt: rt, globals: map[string]goja.Value{}}
	vm.jsonObj = rt.Get("JSON")
	jsonObj := vm.jsonObj.ToObject(rt)
	vm.stringify, _ = goja.AssertFunction(jsonObj.Get("stringify"))
	vm.parse, _ = goja.AssertFunction(jsonObj.Get("parse"))
	g := rt.GlobalObject()
	for _, name := range g.GetOwnPropertyNames() {
		vm.globals[name] = g.Get(name)
	}
	vm.nsyms = len(g.Symbols())
	return vm, nil
}

// interrupt stops the current call, if there is one.
func (vm *jsVM) interrupt(v any) {
	vm.mu.Lock()
	if vm.running && vm.hit == nil {
		vm.hit = v
		vm.rt.Interrupt(v)
	}
	vm.mu.Unlock()
}

// restore deletes the globals a call added. It reports false when the
// global object differs from its snapshot in any other way (a builtin
// global replaced or deleted, a symbol-keyed property, a property that
// cannot be deleted); the runtime must then be dropped.
func (vm *jsVM) restore() bool {
	g := vm.rt.GlobalObject()
	known := 0
	for _, name := range g.GetOwnPropertyNames() {
		orig, ok := vm.globals[name]
		if !ok {
			if g.Delete(name) != nil {
				return false
			}
			continue
		}
		known++
		if cur := g.Get(name); cur == nil || !cur.SameAs(orig) {
			return false
		}
	}
	return known == len(vm.globals) && len(g.Symbols()) == vm.nsyms
}

// jsRunner runs JavaScript code nodes in pooled runtimes.
type jsRunner struct {
	cfg   Config
	progs *programCache

	idle chan *jsVM
	// made counts runtimes in existence (idle or busy); guarded by mu.
	mu     sync.Mutex
	made   int
	active map[*jsVM]struct{}
	busy   chan struct{}
}

func newJSRunner(cfg Config) *jsRunner {
	return &jsRunner{
		cfg:    cfg,
		progs:  newProgramCache(256),
		idle:   make(chan *jsVM, cfg.JSPoolSize),
		active: map[*jsVM]struct{}{},
		busy:   make(chan struct{}, 1),
	}
}

// start builds the runtimes.
func (j *jsRunner) start() error {
	for range j.cfg.JSPoolSize {
		vm, err := newJSVM(j.cfg)
		if err != nil {
			return err
		}
		j.mu.Lock()
		j.made++
		j.mu.Unlock()
		j.idle <- vm
	}
	return nil
}

// watch is the memory watchdog; it returns when ctx is done.
func (j *jsRunner) watch(ctx context.Context) {
	if j.cfg.JSMemoryLimit < 0 {
		return
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-j.busy:
		}
		t := time.NewTicker(j.cfg.JSMemoryCheckInterval)
		for j.activeCount() > 0 {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 && int64(sample[0].Value.Uint64()) > j.cfg.JSMemoryLimit {
				j.mu.Lock()
				for vm := range j.active {
					vm.interrupt(errMemory)
				}
				j.mu.Unlock()
			}
		}
		t.Stop()
	}
}

func (j *jsRunner) activeCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.active)
}

func (j *jsRunner) acquire(ctx, base context.Context) (*jsVM, error) {
	select {
	case vm := <-j.idle:
		return vm, nil
	default:
	}
	select {
	case vm := <-j.idle:
		return vm, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-base.Done():
		return nil, ErrStopped
	}
}

// release returns vm to the pool, or a fresh runtime in its place when
// vm cannot be reused.
func (j *jsRunner) release(vm *jsVM, reuse, collect bool) {
	if !reuse {
		fresh, err := newJSVM(j.cfg)
		if err != nil {
			// Cannot happen once the first runtime was built; keep the pool
			// size by reusing the old one rather than shrinking.
			fresh = vm
			fresh.rt.ClearInterrupt()
		}
		vm = fresh
		if collect {
			runtime.GC() // reclaim what the runtime stopped for memory held
		}
	}
	j.idle <- vm
}

// run executes code with inputs and returns main's result as JSON.
func (j *jsRunner) run(ctx, base context.Context, code string, inputs map[string]any) ([]byte, error) {
	prog, err := j.progs.get(code)
	if err != nil {
		return nil, err
	}
	in, err := json.Marshal(inputs)
	if err != nil {
		return nil, execError("cannot pass inputs to code: %v", err)
	}
	vm, err := j.acquire(ctx, base)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, j.cfg.Timeout, ErrTimeout)
	defer cancel()

	vm.mu.Lock()
	vm.running, vm.hit = true, nil
	vm.mu.Unlock()
	j.mu.Lock()
	j.active[vm] = struct{}{}
	first := len(j.active) == 1
	j.mu.Unlock()
	if first {
		select {
		case j.busy <- struct{}{}:
		default:
		}
	}
	stop := context.AfterFunc(ctx, func() { vm.interrupt(context.Cause(ctx)) })
	stopBase := context.AfterFunc(base, func() { vm.interrupt(ErrStopped) })

	out, callErr, panicked := vm.call(prog, string(in))

	stop()
	stopBase()
	j.mu.Lock()
	delete(j.active, vm)
	j.mu.Unlock()
	vm.mu.Lock()
	vm.running = false
	hit := vm.hit
	vm.mu.Unlock()
	vm.rt.ClearInterrupt()

	reuse := hit == nil && !panicked && vm.restore()
	j.release(vm, reuse, hit == errMemory)

	if hit != nil {
		switch hit {
		case errMemory:
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: the process heap exceeded %d bytes while JavaScript ran", ErrMemoryLimit, j.cfg.JSMemoryLimit)}
		case ErrTimeout:
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w after %s", ErrTimeout, j.cfg.Timeout)}
		case ErrStopped:
			return nil, ErrStopped
		}
		if err, ok := hit.(error); ok {
			return nil, err
		}
		return nil, fmt.Errorf("interrupted: %v", hit)
	}
	if callErr != nil {
		return nil, callErr
	}
	if len(out) > j.cfg.MaxResultBytes {
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %d bytes, limit %d", ErrResultTooLarge, len(out), j.cfg.MaxResultBytes)}
	}
	return []byte(out), nil
}

// call runs prog (the wrapped user code) and main(inputs), returning the
// JSON text of the result.
func (vm *jsVM) call(prog *goja.Program, inputs string) (out string, err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			out, err, panicked = "", execError("javascript runtime panic: %v", r), true
		}
	}()
	rt := vm.rt
	wrapper, err := rt.RunProgram(prog)
	if err != nil {
		return "", jsError(err), false
	}
	outer, _ := goja.AssertFunction(wrapper)
	mainVal, err := outer(goja.Undefined())
	if err != nil {
		return "", jsError(err), false
	}
	mainFn, ok := goja.AssertFunction(mainVal)
	if !ok {
		return "", execError("ReferenceError: main is not defined"), false
	}
	arg, err := vm.parse(vm.jsonObj, rt.ToValue(inputs))
	if err != nil {
		return "", jsError(err), false
	}
	res, err := mainFn(goja.Undefined(), arg)
	if err != nil {
		return "", jsError(err), false
	}
	if p, ok := res.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			res = p.Result()
		case goja.PromiseStateRejected:
			return "", execError("Uncaught (in promise) %s", p.Result().String()), false
		default:
			return "", execError("main returned a Promise that never settled (there is no event loop)"), false
		}
	}
	js, err := vm.stringify(vm.jsonObj, res)
	if err != nil {
		return "", jsError(err), false
	}
	if goja.IsUndefined(js) {
		return "", execError("Result must be a dict, got undefined"), false
	}
	return js.String(), nil, false
}

// jsError turns a goja error into the node's error, keeping the stack.
func jsError(err error) error {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		return err // handled by the caller through vm.hit
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return execError("RangeError: Maximum call stack size exceeded\n%s", strings.TrimRight(so.String(), "\n"))
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return execError("%s", strings.TrimRight(ex.String(), "\n"))
	}
	return execError("%v", err)
}

// programCache compiles user code once; goja programs can run in any
// runtime.
type programCache struct {
	mu    sync.Mutex
	max   int
	progs map[string]*goja.Program
}

func newProgramCache(max int) *programCache {
	return &programCache{max: max, progs: map[string]*goja.Program{}}
}

func (c *programCache) get(code string) (*goja.Program, error) {
	c.mu.Lock()
	p, ok := c.progs[code]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := compileJS(code)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.progs) >= c.max {
		clear(c.progs)
	}
	c.progs[code] = p
	c.mu.Unlock()
	return p, nil
}

// compileJS compiles code as the body of a function that returns main.
// The parsed program must be that one function expression: code that
// closes the wrapper early to declare globals is refused.
func compileJS(code string) (*goja.Program, error) {
	src := "(function () {" + code + "\nreturn typeof main === 'function' ? main : undefined;\n})"
	prg, err := goja.Parse("code.js", src, parser.WithDisableSourceMaps)
	if err != nil {
		return nil, execError("SyntaxError: %s", strings.TrimPrefix(err.Error(), "SyntaxError: "))
	}
	if len(prg.Body) != 1 {
		return nil, execError("SyntaxError: code.js: unexpected '}' closes the enclosing scope")
	}
	es, ok := prg.Body[0].(*ast.ExpressionStatement)
	if !ok {
		return nil, execError("SyntaxError: code.js: unexpected token")
	}
	if _, ok := es.Expression.(*ast.FunctionLiteral); !ok {
		return nil, execError("SyntaxError: code.js: unexpected '}' closes the enclosing scope")
	}
	p, err := goja.CompileAST(prg, false)
	if err != nil {
		return nil, execError("SyntaxError: %v", err)
	}
	return p, nil
}
