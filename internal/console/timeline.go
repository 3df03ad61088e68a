package console

import (
	"encoding/json"
	"net/url"
	"slices"

	"github.com/flowrun/flowrun/internal/repo"
)

// A run's timeline: its node executions in rows, where the executions of
// one row ran side by side (parallel branches: the same distance from
// the run's start along predecessor links). An iteration or loop holds
// its rounds, each a timeline of the executions inside it.

// item is one node execution in a timeline.
type item struct {
	N                        *repo.NodeExecution
	Inputs, Process, Outputs *value
	Metadata                 *value
	Rounds                   []*round
	Container                bool
	ContainerKind            string // "iteration" or "loop"
	Retries                  int
}

// round is one round of an iteration or loop.
type round struct {
	Index int
	Rows  [][]*item
}

// buildTimeline lays out a run's executions (ordered by Index).
func buildTimeline(appID string, execs []*repo.NodeExecution) [][]*item {
	items := make(map[*repo.NodeExecution]*item, len(execs))
	for _, n := range execs {
		items[n] = newItem(appID, n)
	}
	// Attach each execution inside a container to that container's
	// execution: the latest one that started before it.
	children := map[*item][]*repo.NodeExecution{}
	var top []*repo.NodeExecution
	for _, n := range execs {
		parent := parentOf(n, execs)
		if parent == nil {
			top = append(top, n)
			continue
		}
		children[items[parent]] = append(children[items[parent]], n)
	}
	for it, kids := range children {
		byRound := map[int][]*repo.NodeExecution{}
		for _, k := range kids {
			byRound[roundOf(k, it.ContainerKind)] = append(byRound[roundOf(k, it.ContainerKind)], k)
		}
		for idx, ns := range byRound {
			it.Rounds = append(it.Rounds, &round{Index: idx, Rows: rows(ns, items)})
		}
		slices.SortFunc(it.Rounds, func(a, b *round) int { return a.Index - b.Index })
	}
	return rows(top, items)
}

func newItem(appID string, n *repo.NodeExecution) *item {
	base := runURL(appID, n.WorkflowRunID) + "/nodes/" + url.PathEscape(n.ID) + "/"
	it := &item{N: n,
		Inputs:   newValue(n.Inputs, base+"inputs"),
		Process:  newValue(n.ProcessData, base+"process_data"),
		Outputs:  newValue(n.Outputs, base+"outputs"),
		Metadata: newValue(n.Metadata, base+"metadata"),
	}
	switch n.NodeType {
	case "iteration", "loop":
		it.Container, it.ContainerKind = true, n.NodeType
	}
	var meta struct {
		Retries int `json:"retry_count"`
	}
	if len(n.Metadata) > 0 && json.Unmarshal(n.Metadata, &meta) == nil {
		it.Retries = meta.Retries
	}
	return it
}

// parentOf returns the execution of the container n ran in, nil at the
// top level. With both an iteration and a loop named, the inner one is
// the container whose own execution is inside the other.
func parentOf(n *repo.NodeExecution, execs []*repo.NodeExecution) *repo.NodeExecution {
	id := n.IterationID
	if n.LoopID != "" {
		if id == "" {
			id = n.LoopID
		} else if lp := containerExec(n.LoopID, n, execs); lp != nil && lp.IterationID == n.IterationID {
			id = n.LoopID
		}
	}
	if id == "" || id == n.NodeID {
		return nil
	}
	return containerExec(id, n, execs)
}

// containerExec returns the latest execution of node id that started no
// later than n (execs are ordered by Index).
func containerExec(id string, n *repo.NodeExecution, execs []*repo.NodeExecution) *repo.NodeExecution {
	var best *repo.NodeExecution
	for _, c := range execs {
		if c.NodeID == id && c != n && c.Index <= n.Index {
			best = c
		}
	}
	if best == nil {
		for _, c := range execs {
			if c.NodeID == id && c != n {
				return c
			}
		}
	}
	return best
}

// roundOf reads the round index of an execution inside a container.
func roundOf(n *repo.NodeExecution, kind string) int {
	var meta struct {
		Iteration *int `json:"iteration_index"`
		Loop      *int `json:"loop_index"`
	}
	if len(n.Metadata) == 0 || json.Unmarshal(n.Metadata, &meta) != nil {
		return 0
	}
	if kind == "loop" && meta.Loop != nil {
		return *meta.Loop
	}
	if meta.Iteration != nil {
		return *meta.Iteration
	}
	if meta.Loop != nil {
		return *meta.Loop
	}
	return 0
}

// rows groups executions by their distance from the first along
// predecessor links: the executions of a row ran side by side.
func rows(ns []*repo.NodeExecution, items map[*repo.NodeExecution]*item) [][]*item {
	depth := make(map[*repo.NodeExecution]int, len(ns))
	last := map[string]*repo.NodeExecution{} // node id → its latest execution so far
	maxDepth := 0
	for _, n := range ns {
		d := 0
		if p := last[n.PredecessorNodeID]; p != nil {
			d = depth[p] + 1
		} else if len(depth) > 0 && n.PredecessorNodeID == "" {
			d = 0
		} else if len(depth) > 0 {
			d = maxDepth + 1 // its predecessor is outside: after what came before
		}
		depth[n] = d
		last[n.NodeID] = n
		maxDepth = max(maxDepth, d)
	}
	out := make([][]*item, maxDepth+1)
	for _, n := range ns {
		out[depth[n]] = append(out[depth[n]], items[n])
	}
	return slices.DeleteFunc(out, func(r []*item) bool { return len(r) == 0 })
}
