package run

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Reference checks on random DAGs agree with a brute-force ancestor walk,
// with enough distinct targets to need several 64-target batches.
func TestReferenceChecksMatchAncestors(t *testing.T) {
	t.Parallel()
	e := New(Config{}, ctRegistry())
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 20 + rng.IntN(280)
		ids := make([]string, n)
		ids[0] = "start"
		for i := 1; i < n; i++ {
			ids[i] = fmt.Sprintf("n%d", i)
		}
		preds := make([][]int, n)
		var edges []ctEdge
		for i := 1; i < n; i++ {
			// One edge from an earlier node keeps i reachable from start;
			// a few more make joins.
			for k := 0; k < 1+rng.IntN(3); k++ {
				p := rng.IntN(i)
				if !slices.Contains(preds[i], p) {
					preds[i] = append(preds[i], p)
					edges = append(edges, ctE(ids[p], ids[i]))
				}
			}
		}
		nodes := []ctNode{ctStart()}
		refs := make([]int, n)
		for i := 1; i < n; i++ {
			refs[i] = 1 + rng.IntN(n-1)
			nodes = append(nodes, ctNode{ID: ids[i], Data: map[string]any{
				"type": "ct-check", "title": ids[i], "selector": []string{ids[refs[i]], "value"},
			}})
		}
		ancestor := func(a, b int) bool { // a runs before b
			seen := map[int]bool{}
			stack := slices.Clone(preds[b])
			for len(stack) > 0 {
				x := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if x == a {
					return true
				}
				if !seen[x] {
					seen[x] = true
					stack = append(stack, preds[x]...)
				}
			}
			return false
		}
		var want []string
		for i := 1; i < n; i++ {
			switch {
			case refs[i] == i:
				want = append(want, fmt.Sprintf("node %s: selector: references its own output", ids[i]))
			case !ancestor(refs[i], i):
				want = append(want, fmt.Sprintf("node %s: selector: references node %q, which does not run before this node", ids[i], ids[refs[i]]))
			}
		}
		_, err := e.Compile(ctDoc("workflow", nodes, edges))
		var got []string
		var verr *ValidationError
		if errors.As(err, &verr) {
			for _, p := range verr.Problems {
				got = append(got, p.String())
			}
		} else if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d (%d nodes):\ngot  %s\nwant %s", seed, n, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
		}
	}
}
