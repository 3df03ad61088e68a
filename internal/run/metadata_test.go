package run

import (
	"reflect"
	"testing"
)

func TestExecutionMetadata(t *testing.T) {
	for name, tc := range map[string]struct {
		n    NodeRun
		want map[string]any
	}{
		"nothing":     {NodeRun{Metadata: map[string]any{}}, nil},
		"tokens":      {NodeRun{Tokens: 7}, map[string]any{"total_tokens": int64(7)}},
		"node's own":  {NodeRun{Tokens: 7, Metadata: map[string]any{"total_tokens": 5, "currency": "USD"}}, map[string]any{"total_tokens": 5, "currency": "USD"}},
		"iteration":   {NodeRun{IterationID: "it", IterationIndex: 2}, map[string]any{"iteration_id": "it", "iteration_index": int64(2)}},
		"loop":        {NodeRun{LoopID: "lp", LoopIndex: 0}, map[string]any{"loop_id": "lp", "loop_index": int64(0)}},
		"not aliased": {NodeRun{Metadata: map[string]any{"a": 1}, LoopID: "lp"}, map[string]any{"a": 1, "loop_id": "lp", "loop_index": int64(0)}},
	} {
		got := tc.n.ExecutionMetadata()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
		if name == "not aliased" && len(tc.n.Metadata) != 1 {
			t.Errorf("%s: the node's own metadata was changed: %v", name, tc.n.Metadata)
		}
	}
}
