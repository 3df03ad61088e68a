package code

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"
)

// JavaScript runs in worker processes (jsworker.go); inside a worker each
// call gets a fresh goja runtime, prepared by jsPrelude: a console that
// discards output and guards on the string builtins that allocate in one
// native call. A runtime is never reused, so nothing one call does is
// seen by the next.

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
})`

var (
	preludeOnce sync.Once
	preludeProg *goja.Program
	preludeErr  error
)

type jsVM struct {
	rt        *goja.Runtime
	stringify goja.Callable
	parse     goja.Callable
	jsonObj   goja.Value
}

// newJSVM builds a fresh runtime with the prelude run.
func newJSVM(maxLen, maxStack int) (*jsVM, error) {
	preludeOnce.Do(func() { preludeProg, preludeErr = goja.Compile("prelude.js", jsPrelude, true) })
	if preludeErr != nil {
		return nil, preludeErr
	}
	rt := goja.New()
	rt.SetMaxCallStackSize(maxStack)
	fn, err := rt.RunProgram(preludeProg)
	if err != nil {
		return nil, fmt.Errorf("javascript prelude: %w", err)
	}
	prelude, _ := goja.AssertFunction(fn)
	if _, err := prelude(goja.Undefined(), rt.ToValue(maxLen)); err != nil {
		return nil, fmt.Errorf("javascript prelude: %w", err)
	}
	vm := &jsVM{rt: rt}
	vm.jsonObj = rt.Get("JSON")
	jsonObj := vm.jsonObj.ToObject(rt)
	vm.stringify, _ = goja.AssertFunction(jsonObj.Get("stringify"))
	vm.parse, _ = goja.AssertFunction(jsonObj.Get("parse"))
	return vm, nil
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
		return execError("RangeError: Maximum call stack size exceeded\n%s", bounded(strings.TrimRight(so.String(), "\n")))
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return execError("%s", bounded(strings.TrimRight(ex.String(), "\n")))
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

// maxErrorBytes bounds the text of a script's error: a deep recursion's
// stack trace alone runs to hundreds of kilobytes.
const maxErrorBytes = 4 << 10

// bounded cuts s to maxErrorBytes, saying how much it left out.
func bounded(s string) string {
	if len(s) <= maxErrorBytes {
		return s
	}
	cut := maxErrorBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s\n... (%d more bytes)", s[:cut], len(s)-cut)
}
