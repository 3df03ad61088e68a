package retrieval

import (
	"context"

	"github.com/flowrun/flowrun/internal/knowledge"
	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// hit is a retrieved chunk and the dataset it came from.
type hit struct {
	doc knowledge.Doc
	ds  *knowledge.Dataset
}

// spent is what the node's model calls used.
type spent struct {
	usage   openai.Usage
	latency float64
}

// Execute runs the node as Dify's KnowledgeRetrievalNode._run does.
func (n *node) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	if len(n.query) == 0 && len(n.attachment) == 0 {
		return &run.Result{Inputs: run.Vars{}, ProcessData: run.Vars{}, Outputs: run.Vars{}, Metadata: map[string]any{}}, nil
	}
	inputs := run.Vars{}
	query := ""
	if len(n.query) > 0 {
		v, _ := x.Pool.Get(n.query)
		s, ok := v.(string)
		if !ok {
			return &run.Result{Inputs: run.Vars{}}, nodeError("Query variable is not string type.")
		}
		query = s
		inputs = append(inputs, run.Var{Name: "query", Value: s})
	}
	if len(n.attachment) > 0 {
		files, ok := attachments(x.Pool, n.attachment)
		if !ok {
			return &run.Result{Inputs: run.Vars{}}, nodeError("Attachments variable is not array file or file type.")
		}
		inputs = append(inputs, run.Var{Name: "attachments", Value: files})
	}
	var used spent
	result := func(hits []hit) *run.Result {
		usage := llm.UsageMap(used.usage, used.latency)
		return &run.Result{
			Inputs: inputs, ProcessData: run.Vars{{Name: "usage", Value: usage}},
			Outputs:  run.Vars{{Name: "result", Value: items(hits)}},
			Metadata: map[string]any{"total_tokens": used.usage.TotalTokens, "total_price": 0.0, "currency": "USD"},
			Tokens:   used.usage.TotalTokens,
		}
	}
	fail := func(err error) (*run.Result, error) {
		res := result(nil)
		res.Outputs = nil
		return res, err
	}
	datasets := make([]*knowledge.Dataset, 0, len(n.datasets))
	for _, id := range n.datasets {
		ds, err := n.kr.Lookup(id)
		if err != nil {
			return fail(&run.NodeError{Type: ErrTypeNode, Err: err})
		}
		datasets = append(datasets, ds)
	}
	if n.missing != "" && (!n.single || query != "") {
		return fail(nodeError("%s", n.missing))
	}
	// Dify retrieves nothing for an empty query (attachments alone
	// included, knowledge_retrieval's first check).
	if query == "" || len(datasets) == 0 {
		return result(nil), nil
	}
	req := &knowledge.Request{Query: query}
	var err error
	if req.Filter, err = n.filter.build(ctx, x, query, datasets, &used); err != nil {
		return fail(err)
	}
	var hits []hit
	if n.single {
		hits, err = n.singleRetrieve(ctx, x, req, datasets, &used)
	} else {
		hits, err = n.multipleRetrieve(ctx, req, datasets)
	}
	if err != nil {
		return fail(err)
	}
	return result(hits), nil
}

// attachments returns the files of sel: a file or a list of files.
func attachments(pool *run.Pool, sel run.Selector) ([]any, bool) {
	v, _ := pool.Get(sel)
	if list, ok := v.([]any); ok {
		for _, f := range list {
			if !isFile(f) {
				return nil, false
			}
		}
		return list, true
	}
	if isFile(v) {
		return []any{v}, true
	}
	return nil, false
}

// isFile reports whether v is a File value (a mapping with a
// transfer_method and a type).
func isFile(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, tm := m["transfer_method"]
	_, typ := m["type"]
	return tm && typ
}
