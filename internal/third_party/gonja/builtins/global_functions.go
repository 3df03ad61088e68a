package builtins

import (
	"fmt"
	"math"

	"github.com/flowrun/flowrun/internal/third_party/gonja/exec"
	"github.com/flowrun/flowrun/internal/third_party/gonja/utils"
	"github.com/pkg/errors"
)

var GlobalFunctions = exec.NewContext(map[string]any{
	"cycler":    cyclerFunction,
	"dict":      dictFunction,
	"joiner":    joinerFunction,
	"lipsum":    lipSumFunction,
	"namespace": namespaceFunction,
	"range":     rangeFunction,
	"_":         gettextFunction,
	"gettext":   gettextFunction,
	"ngettext":  ngettextFunction,
})

// rangeFunction returns the list Python's range() would yield. (Fork:
// upstream fed a channel from a goroutine, which leaked when the range was
// not consumed and materialised any length; this checks the length against
// the budget first.)
func rangeFunction(e *exec.Evaluator, params *exec.VarArgs) ([]int, error) {
	var (
		start = 0
		stop  = -1
		step  = 1
	)
	switch n := len(params.Args); n > 0 {
	case n == 1 && params.Args[0].IsInteger():
		stop = params.Args[0].Integer()
	case n == 2 && params.Args[0].IsInteger() && params.Args[1].IsInteger():
		start = params.Args[0].Integer()
		stop = params.Args[1].Integer()
	case n == 3 && params.Args[0].IsInteger() && params.Args[1].IsInteger() && params.Args[2].IsInteger():
		start = params.Args[0].Integer()
		stop = params.Args[1].Integer()
		step = params.Args[2].Integer()
	default:
		return nil, exec.ErrInvalidCall(errors.New("expected signature is [start, ]stop[, step] where all arguments are integers"))
	}

	if step == 0 {
		return nil, exec.ErrInvalidCall(errors.New("step cannot be 0"))
	}

	length := rangeLength(start, stop, step)
	size := uint64(math.MaxInt)
	if length < size/exec.ItemCost {
		size = length * exec.ItemCost
	}
	if err := e.Budget().Grow(int(size), fmt.Sprintf("range() of %d items", length)); err != nil {
		return nil, err
	}
	out := make([]int, 0, length)
	for i, v := uint64(0), start; i < length; i, v = i+1, v+step {
		out = append(out, v)
	}
	return out, nil
}

// rangeLength returns how many items range(start, stop, step) yields,
// without overflow for any int arguments; step is not 0.
func rangeLength(start, stop, step int) uint64 {
	var span, stride uint64
	switch {
	case step > 0 && start < stop:
		span, stride = uint64(stop)-uint64(start), uint64(step)
	case step < 0 && start > stop:
		span, stride = uint64(start)-uint64(stop), uint64(-(step+1))+1
	default:
		return 0
	}
	return (span-1)/stride + 1
}

func dictFunction(_ *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	dict := exec.NewDict()
	for key, value := range params.KwArgs {
		dict.Pairs = append(dict.Pairs, &exec.Pair{
			Key:   exec.AsValue(key),
			Value: value,
		})
	}
	return exec.AsValue(dict)
}

type cycler struct {
	values  []string
	idx     int
	getters map[string]any
}

func (c *cycler) Reset() {
	c.idx = 0
	c.getters["current"] = c.values[c.idx]
}

func (c *cycler) Next() string {
	c.idx++
	value := c.getters["current"].(string)
	if c.idx >= len(c.values) {
		c.idx = 0
	}
	c.getters["current"] = c.values[c.idx]
	return value
}

func cyclerFunction(_ *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	c := &cycler{}
	for _, arg := range params.Args {
		c.values = append(c.values, arg.String())
	}
	c.getters = map[string]any{
		"next":  c.Next,
		"reset": c.Reset,
	}
	c.Reset()
	return exec.AsValue(c.getters)
}

type joiner struct {
	sep   string
	first bool
}

func (j *joiner) String() string {
	if !j.first {
		j.first = true
		return ""
	}
	return j.sep
}

func joinerFunction(_ *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	var (
		sep string
	)
	if err := params.Take(
		exec.KeywordArgument("sep", exec.AsValue(","), exec.StringArgument(&sep)),
	); err != nil {
		return exec.AsValue(exec.ErrInvalidCall(err))
	}
	j := &joiner{sep: sep}
	return exec.AsValue(j.String)
}

func namespaceFunction(_ *exec.Evaluator, params *exec.VarArgs) exec.Namespace {
	ns := exec.Namespace{} // (Fork: a type of its own, see exec.Namespace.)
	for key, value := range params.KwArgs {
		ns[key] = value
	}
	return ns
}

func lipSumFunction(e *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	var (
		n    int
		html bool
		min  int
		max  int
	)
	if err := params.Take(
		exec.KeywordArgument("n", exec.AsValue(5), exec.IntArgument(&n)),
		exec.KeywordArgument("html", exec.AsValue(true), exec.BoolArgument(&html)),
		exec.KeywordArgument("min", exec.AsValue(20), exec.IntArgument(&min)),
		exec.KeywordArgument("max", exec.AsValue(100), exec.IntArgument(&max)),
	); err != nil {
		return exec.AsValue(exec.ErrInvalidCall(err))
	}
	// (Fork: budget.) A paragraph holds max-min words of at most 14 bytes.
	if err := e.Budget().Grow(lipsumBound(n, min, max), fmt.Sprintf("lipsum(n=%d)", n)); err != nil {
		return exec.AsValue(err)
	}
	return exec.AsSafeValue(utils.Lipsum(n, html, min, max))
}

// lipsumBound bounds the bytes of utils.Lipsum(n, _, min, max), saturating
// at math.MaxInt. (Fork.)
func lipsumBound(n, min, max int) int {
	if n <= 0 {
		return 0
	}
	words := 0
	if max > min {
		words = max - min
	}
	perParagraph := 16
	if words > (math.MaxInt-16)/14 {
		return math.MaxInt
	}
	perParagraph += 14 * words
	if n > math.MaxInt/perParagraph {
		return math.MaxInt
	}
	return n * perParagraph
}

func gettextFunction(_ *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	if len(params.Args) < 1 {
		return exec.AsValue("")
	}
	// Default: identity (no translation backend registered). Users can override
	// by setting environment.Context["__gonja_trans_hook__"] = func(s string) string { ... }
	return exec.AsValue(params.Args[0].String())
}

func ngettextFunction(_ *exec.Evaluator, params *exec.VarArgs) *exec.Value {
	// signature: ngettext(singular, plural, n)
	if len(params.Args) < 3 {
		return exec.AsValue("")
	}
	singular := params.Args[0].String()
	plural := params.Args[1].String()
	n := params.Args[2].Integer()
	if n == 1 {
		return exec.AsValue(singular)
	}
	return exec.AsValue(plural)
}
