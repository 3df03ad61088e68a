package exec

// This file is not part of upstream gonja: it is the fork's budget (see
// README.md in the module root).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unsafe"
)

// Limits bounds one render. A zero field means no limit.
type Limits struct {
	// Output caps the bytes a render writes.
	Output int
	// Value caps the size of any one value the template builds: a
	// string's bytes, or for a list or dict the bytes of everything it
	// holds plus ItemCost per item or entry. Captured output ({% set %} blocks,
	// macro bodies) counts as a value too.
	Value int
	// Alloc caps the total size of all the values one render builds,
	// counted as Value counts them, also those it discards. It bounds the
	// memory that lists, namespaces and variables can keep.
	Alloc int
	// Iterations caps loop items and macro calls, summed over the render.
	Iterations int
	// Depth caps nested macro calls and recursive loop() calls.
	Depth int
}

// MaxNesting bounds how deeply a template's syntax and the values it builds
// may nest: deeper structures would only exhaust the goroutine stack, which
// is fatal to the whole process. Python's Jinja2 stops earlier, at its
// recursion limit.
const MaxNesting = 1000

// ItemCost is what one list item or dict entry costs beyond what it holds:
// about what an item costs inside the renderer, where every item is
// wrapped in a *Value.
const ItemCost = 64

// ErrLimit is wrapped by every LimitError.
var ErrLimit = errors.New("template limit exceeded")

// LimitError reports a render that went over one of its Limits.
type LimitError struct{ msg string }

func (e *LimitError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrLimit) hold.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

func limitErrorf(format string, args ...any) *LimitError {
	return &LimitError{msg: fmt.Sprintf(format, args...)}
}

// OutputExceeded returns the error of a render whose output would exceed
// max bytes, for callers that render some templates without gonja.
func OutputExceeded(max int) *LimitError {
	return limitErrorf("template output exceeds %d bytes", max)
}

// Budget tracks one render against its Limits and its context. The first
// error it reports sticks: every later check returns it, so a limit hit
// inside a construct that swallows errors still ends the render. A nil
// *Budget checks nothing. A Budget belongs to one render, which runs on one
// goroutine.
type Budget struct {
	limits     Limits
	ctx        context.Context
	done       <-chan struct{}
	err        error
	iterations int
	alloc      int
	depth      int
}

// NewBudget returns a budget for one render under ctx.
func NewBudget(ctx context.Context, limits Limits) *Budget {
	return &Budget{limits: limits, ctx: ctx, done: ctx.Done()}
}

// Err returns the error that ended the render, if any.
func (b *Budget) Err() error {
	if b == nil {
		return nil
	}
	return b.err
}

func (b *Budget) fail(err error) error {
	if b.err == nil {
		b.err = err
	}
	return b.err
}

// live returns the sticky error, or the context's cause once it is done.
func (b *Budget) live() error {
	if b.err != nil {
		return b.err
	}
	select {
	case <-b.done:
		return b.fail(context.Cause(b.ctx))
	default:
		return nil
	}
}

// Check returns the error that ended the render, or the context's cause
// once it is done.
func (b *Budget) Check() error {
	if b == nil {
		return nil
	}
	return b.live()
}

// Tick counts one loop iteration or macro call and checks the context.
func (b *Budget) Tick() error {
	if b == nil {
		return nil
	}
	if err := b.live(); err != nil {
		return err
	}
	b.iterations++
	if max := b.limits.Iterations; max > 0 && b.iterations > max {
		return b.fail(limitErrorf("template exceeds %d loop iterations and macro calls", max))
	}
	return nil
}

// Reserve fails at once if n more iterations would exceed the budget, so
// that a loop over a huge sequence stops before it materialises it.
func (b *Budget) Reserve(n int) error {
	if b == nil {
		return nil
	}
	if err := b.live(); err != nil {
		return err
	}
	if max := b.limits.Iterations; max > 0 && n > max-b.iterations {
		return b.fail(limitErrorf("template exceeds %d loop iterations and macro calls", max))
	}
	return nil
}

// Enter starts a macro call or a recursive loop() call: it counts as an
// iteration and one level of depth. Every successful Enter needs a Leave.
func (b *Budget) Enter() error {
	if b == nil {
		return nil
	}
	if err := b.Tick(); err != nil {
		return err
	}
	if max := b.limits.Depth; max > 0 && b.depth >= max {
		return b.fail(limitErrorf("template recursion exceeds depth %d", max))
	}
	b.depth++
	return nil
}

// Leave ends what Enter started.
func (b *Budget) Leave() {
	if b != nil {
		b.depth--
	}
}

// Grow fails if an operation that is about to build a value of n bytes
// would exceed the value budget or what is left of the allocation budget.
// what names the operation in the error. It charges nothing: the value is
// charged once built.
func (b *Budget) Grow(n int, what string) error {
	if b == nil {
		return nil
	}
	if err := b.live(); err != nil {
		return err
	}
	if max := b.limits.Value; max > 0 && (n > max || n < 0) {
		return b.fail(limitErrorf("template value exceeds %d bytes: %s", max, what))
	}
	if max := b.limits.Alloc; max > 0 && (n > max-b.alloc || n < 0) {
		return b.fail(limitErrorf("template values exceed %d bytes in total", max))
	}
	return nil
}

// Charge counts a value the template built against the value and
// allocation budgets. It returns v, or an error value.
func (b *Budget) Charge(v *Value) *Value {
	if b == nil || v == nil || v.IsError() {
		return v
	}
	if err := b.charge(v.Val); err != nil {
		return AsValue(err)
	}
	return v
}

// ChargeString counts a string the template built, as Charge does.
func (b *Budget) ChargeString(s string) error {
	if b == nil {
		return nil
	}
	return b.charge(reflect.ValueOf(s))
}

// ChargeArgs counts the arguments of a call that may keep them, such as
// list.append.
func (b *Budget) ChargeArgs(args *VarArgs) error {
	if b == nil {
		return nil
	}
	for _, a := range args.Args {
		if err := b.charge(a.Val); err != nil {
			return err
		}
	}
	for _, a := range args.KwArgs {
		if err := b.charge(a.Val); err != nil {
			return err
		}
	}
	return nil
}

func (b *Budget) charge(v reflect.Value) error {
	if err := b.live(); err != nil {
		return err
	}
	// Stop measuring once the value is over either budget: the walk then
	// costs no more than the budget it checks, even over a value that
	// shares one list many times.
	stop := b.limits.Value
	if left := b.limits.Alloc - b.alloc; b.limits.Alloc > 0 && (stop == 0 || left < stop) {
		stop = left
	}
	w := sizer{stop: stop}
	n := w.size(v, 0)
	if w.deep {
		return b.fail(limitErrorf("template value nests deeper than %d levels", MaxNesting))
	}
	if max := b.limits.Value; max > 0 && n > max {
		return b.fail(limitErrorf("template value exceeds %d bytes", max))
	}
	b.alloc += n
	if max := b.limits.Alloc; max > 0 && b.alloc > max {
		return b.fail(limitErrorf("template values exceed %d bytes in total", max))
	}
	return nil
}

// CheckStore fails if storing value into the namespace or dict target
// would make target contain itself: printing it would then recurse
// forever.
func (b *Budget) CheckStore(target, value *Value) error {
	if b == nil {
		return nil
	}
	t := target.getResolvedValue()
	if t.Kind() != reflect.Map {
		return nil
	}
	w := sizer{stop: b.limits.Alloc, find: t.UnsafePointer()}
	w.size(value.Val, 0)
	if w.found || w.deep {
		return b.fail(limitErrorf("template value nests deeper than %d levels", MaxNesting))
	}
	return nil
}

// sizer measures values as Limits.Value describes.
type sizer struct {
	stop  int            // stop measuring beyond this many bytes (0: never)
	find  unsafe.Pointer // a map to look for (nil: none)
	n     int            // bytes so far
	deep  bool           // nesting beyond MaxNesting
	found bool           // find was reached
	items int            // list items and dict entries seen
	depth int            // deepest nesting seen
}

var (
	typeOfValue = reflect.TypeFor[Value]()
	typeOfDict  = reflect.TypeFor[Dict]()
	typeOfPair  = reflect.TypeFor[Pair]()
)

func (w *sizer) over() bool {
	return w.deep || w.found || w.stop > 0 && w.n > w.stop
}

func (w *sizer) size(v reflect.Value, depth int) int {
	if depth > MaxNesting {
		w.deep = true
	}
	w.depth = max(w.depth, depth)
	if w.over() || !v.IsValid() {
		return w.n
	}
	switch v.Kind() {
	case reflect.String:
		w.n += v.Len()
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return w.n
		}
		if v.Type() == typeOfValuePtr && v.CanInterface() {
			return w.size(v.Interface().(*Value).Val, depth)
		}
		return w.size(v.Elem(), depth)
	case reflect.Struct:
		switch v.Type() {
		case typeOfValue:
			if v.CanInterface() {
				return w.size(v.Field(0).Interface().(reflect.Value), depth)
			}
		case typeOfPair:
			w.size(v.Field(0), depth+1)
			return w.size(v.Field(1), depth+1)
		case typeOfDict:
			return w.size(v.Field(0), depth)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			w.n += v.Len()
			return w.n
		}
		for i := 0; i < v.Len() && !w.over(); i++ {
			w.n += ItemCost
			w.items++
			w.size(v.Index(i), depth+1)
		}
	case reflect.Map:
		if w.find != nil && v.UnsafePointer() == w.find {
			w.found = true
			return w.n
		}
		for it := v.MapRange(); it.Next() && !w.over(); {
			w.n += ItemCost
			w.items++
			w.size(it.Key(), depth+1)
			w.size(it.Value(), depth+1)
		}
	}
	return w.n
}

// Output wraps the render's writer so that it fails beyond Limits.Output.
func (b *Budget) Output(w io.Writer) io.Writer {
	if b == nil || b.limits.Output <= 0 {
		return w
	}
	return &limitWriter{w: w, b: b, max: b.limits.Output}
}

type limitWriter struct {
	w   io.Writer
	b   *Budget
	n   int
	max int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if err := l.check(len(p)); err != nil {
		return 0, err
	}
	return l.w.Write(p)
}

func (l *limitWriter) WriteString(s string) (int, error) {
	if err := l.check(len(s)); err != nil {
		return 0, err
	}
	return io.WriteString(l.w, s)
}

func (l *limitWriter) check(n int) error {
	if err := l.b.live(); err != nil {
		return err
	}
	if n > l.max-l.n {
		return l.b.fail(OutputExceeded(l.max))
	}
	l.n += n
	return nil
}

// Capture collects output that becomes a value (a {% set %} block, a macro
// body, a {% filter %} block): it fails beyond Limits.Value.
type Capture struct {
	buf strings.Builder
	b   *Budget
}

// NewCapture returns an empty capture buffer under b.
func NewCapture(b *Budget) *Capture { return &Capture{b: b} }

func (c *Capture) Write(p []byte) (int, error) {
	if err := c.check(len(p)); err != nil {
		return 0, err
	}
	return c.buf.Write(p)
}

// WriteString appends s.
func (c *Capture) WriteString(s string) (int, error) {
	if err := c.check(len(s)); err != nil {
		return 0, err
	}
	return c.buf.WriteString(s)
}

func (c *Capture) check(n int) error {
	if c.b == nil {
		return nil
	}
	if err := c.b.live(); err != nil {
		return err
	}
	if max := c.b.limits.Value; max > 0 && n > max-c.buf.Len() {
		return c.b.fail(limitErrorf("template value exceeds %d bytes: captured output", max))
	}
	return nil
}

// String returns what was written.
func (c *Capture) String() string { return c.buf.String() }
