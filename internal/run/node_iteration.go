package run

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// This file ports Dify's iteration node
// (api/core/workflow/nodes/iteration/iteration_node.py): the container runs
// its inner graph once per element of an array, each round in its own pool
// holding [iteration_id, item] and [iteration_id, index], and collects the
// value at output_selector from every round into {"output": [...]}.

func init() {
	registerBuiltin(NodeType{Name: "iteration", Build: buildIteration, Container: true})
}

// Iteration error_handle_mode values (Dify's ErrorHandleMode).
const (
	IterationTerminated           = "terminated"
	IterationContinueOnError      = "continue-on-error"
	IterationRemoveAbnormalOutput = "remove-abnormal-output"
)

// DefaultIterationParallelNums is Dify's default parallel_nums.
const DefaultIterationParallelNums = 10

type iterationNode struct {
	iterator     Selector
	output       Selector
	parallel     bool
	parallelNums int
	mode         string
	flatten      bool
}

func buildIteration(b *Build) (Executor, error) {
	var cfg struct {
		IteratorSelector Selector `json:"iterator_selector"`
		OutputSelector   Selector `json:"output_selector"`
		IsParallel       bool     `json:"is_parallel"`
		ParallelNums     *int     `json:"parallel_nums"`
		ErrorHandleMode  string   `json:"error_handle_mode"`
		FlattenOutput    *bool    `json:"flatten_output"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	it := &iterationNode{
		iterator:     b.Selector("iterator_selector", cfg.IteratorSelector),
		output:       cfg.OutputSelector,
		parallel:     cfg.IsParallel,
		parallelNums: DefaultIterationParallelNums,
		mode:         cfg.ErrorHandleMode,
		flatten:      cfg.FlattenOutput == nil || *cfg.FlattenOutput,
	}
	// An unconfigured output_selector is [] in exports: every round then
	// contributes None, as in Dify.
	if len(cfg.OutputSelector) > 0 {
		b.Selector("output_selector", cfg.OutputSelector)
	}
	if cfg.ParallelNums != nil {
		it.parallelNums = *cfg.ParallelNums
	}
	switch it.mode {
	case "":
		it.mode = IterationTerminated
	case IterationTerminated, IterationContinueOnError, IterationRemoveAbnormalOutput:
	default:
		b.Errorf("unknown error_handle_mode %q", it.mode)
	}
	return it, nil
}

// iterationRun is the state of one execution of an iteration node.
type iterationRun struct {
	it    *iterationNode
	x     *Exec
	items []any

	mu        sync.Mutex
	durations map[string]any
}

func (it *iterationNode) Execute(ctx context.Context, x *Exec) (*Result, error) {
	v, ok := x.Pool.Get(it.iterator)
	if !ok {
		return nil, &NodeError{Type: "IteratorVariableNotFoundError", Err: fmt.Errorf("iterator variable %s not found", pySelector(it.iterator))}
	}
	var items []any
	switch list := v.(type) {
	case nil:
	case []any:
		items = list
	default:
		return nil, &NodeError{Type: "InvalidIteratorValueError", Err: fmt.Errorf("invalid iterator value: %s, please provide a list.", Clip(Text(v)))}
	}
	if len(items) == 0 {
		// Dify completes an empty iteration at once, with no rounds.
		return &Result{Outputs: Vars{{"output", []any{}}}}, nil
	}
	inputs := Vars{{"iterator_selector", items}}
	x.Start(inputs, map[string]any{"iteration_length": int64(len(items))})

	// Rounds past the step limit or the run's timeout never run: size
	// nothing by the (possibly huge) array up front.
	r := &iterationRun{it: it, x: x, items: items, durations: make(map[string]any, min(len(items), 64))}
	var (
		outs []any
		err  error
	)
	if it.parallel {
		outs, err = r.parallel(ctx)
	} else {
		outs, err = r.sequential(ctx)
	}
	res := &Result{
		Inputs:   inputs,
		Outputs:  Vars{{"output", flattenOutputs(outs, it.flatten)}},
		Metadata: map[string]any{"iteration_duration_map": r.durations},
	}
	if err != nil && ctx.Err() != nil {
		// Stopped, timed out, or cancelled because the run failed elsewhere.
		return res, context.Cause(ctx)
	}
	if err != nil {
		return res, &NodeError{Type: "IterationNodeError", Err: err}
	}
	return res, nil
}

// round runs round i and returns the value at output_selector.
func (r *iterationRun) round(ctx context.Context, i int) (any, error) {
	x := r.x
	pool := NewPool(x.Pool)
	pool.Set(x.Node.ID, Vars{{"index", int64(i)}, {"item", r.items[i]}})
	s := x.Scope
	s.IterationID, s.IterationIndex = x.Node.ID, i
	start := x.Now()
	err := x.RunGraph(ctx, x.Node.Child, pool, s)
	elapsed := x.Now().Sub(start).Seconds()
	r.mu.Lock()
	r.durations[strconv.Itoa(i)] = elapsed
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out, _ := pool.Get(r.it.output)
	return out, nil
}

// sequential runs the rounds one after the other. Outputs of failed rounds
// are None (continue-on-error) or left out (remove-abnormal-output).
func (r *iterationRun) sequential(ctx context.Context) ([]any, error) {
	outs := make([]any, 0, len(r.items))
	for i := range r.items {
		if ctx.Err() != nil {
			return outs, context.Cause(ctx)
		}
		r.x.Next(i)
		out, err := r.round(ctx, i)
		switch {
		case err == nil:
			outs = append(outs, out)
		case ctx.Err() != nil:
			return outs, err
		case r.it.mode == IterationContinueOnError:
			outs = append(outs, nil)
		case r.it.mode == IterationRemoveAbnormalOutput:
		default:
			return outs, err
		}
	}
	return outs, nil
}

// parallel runs up to parallel_nums rounds at once, taking them in order.
// Outputs keep the input order. In terminated mode the first failure
// cancels the other rounds. As in Dify, remove-abnormal-output then drops
// every None output, including rounds that succeeded with None.
func (r *iterationRun) parallel(ctx context.Context) ([]any, error) {
	n := len(r.items)
	workers := min(r.it.parallelNums, n)
	if workers <= 0 {
		return nil, fmt.Errorf("max_workers must be greater than 0")
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	outs := make([]any, n)
	var (
		next     atomic.Int64 // the next round to take
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || rctx.Err() != nil {
					return
				}
				r.x.Next(i)
				out, err := r.round(rctx, i)
				if err == nil {
					outs[i] = out // each index is written by one worker only
					continue
				}
				if r.it.mode == IterationTerminated && rctx.Err() == nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return outs, context.Cause(ctx)
	}
	if firstErr != nil {
		return outs, firstErr
	}
	if r.it.mode == IterationRemoveAbnormalOutput {
		kept := make([]any, 0, n)
		for _, o := range outs {
			if o != nil {
				kept = append(kept, o)
			}
		}
		outs = kept
	}
	return outs, nil
}

// flattenOutputs flattens the outputs one level when every non-None output
// is a list (Dify's _flatten_outputs_if_needed); None outputs are dropped
// then.
func flattenOutputs(outs []any, flatten bool) []any {
	if outs == nil {
		outs = []any{}
	}
	if !flatten {
		return outs
	}
	lists := 0
	for _, o := range outs {
		if o == nil {
			continue
		}
		if _, ok := o.([]any); !ok {
			return outs
		}
		lists++
	}
	if lists == 0 {
		return outs
	}
	flat := make([]any, 0, len(outs))
	for _, o := range outs {
		if l, ok := o.([]any); ok {
			flat = append(flat, l...)
		}
	}
	return flat
}
