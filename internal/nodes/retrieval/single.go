package retrieval

import (
	"context"
	"strings"

	"github.com/flowrun/flowrun/internal/knowledge"
	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// routerSystemPrompt is the system message of Dify's function-call
// router.
const routerSystemPrompt = "You are a helpful AI assistant."

// singleRetrieve lets the model pick one dataset, as a function to call,
// and returns that dataset's chunks (its own top_k and threshold apply,
// not the node's), as Dify's single_retrieve does with a model that calls
// tools. With one dataset no model is asked. A model that calls no
// function, or fails, retrieves nothing, as in Dify; a model that cannot
// be called at all (not configured) fails the node.
func (n *node) singleRetrieve(ctx context.Context, x *run.Exec, req *knowledge.Request, datasets []*knowledge.Dataset, used *spent) ([]hit, error) {
	ds := datasets[0]
	if len(datasets) > 1 {
		if err := n.router.Err(); err != nil {
			return nil, err
		}
		tools := make([]openai.Tool, len(datasets))
		for i, d := range datasets {
			desc := d.Description
			if desc == "" {
				desc = "useful for when you want to answer queries about the " + d.Name
			}
			desc = strings.NewReplacer("\n", "", "\r", "").Replace(desc)
			tools[i] = openai.Tool{Type: "function", Function: openai.Function{Name: d.ID, Description: desc,
				Parameters: map[string]any{"type": "object", "properties": map[string]any{}, "required": []any{}}}}
		}
		user, _ := x.Pool.Get(run.Selector{"sys", "user_id"})
		uid, _ := user.(string)
		comp, err := n.router.Chat(ctx, &llm.Call{Tools: tools, User: uid, Messages: []openai.Message{
			{Role: "system", Content: routerSystemPrompt}, {Role: "user", Content: req.Query},
		}})
		if err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, nil
		}
		used.usage, used.latency = comp.Usage, comp.Latency
		ds = nil
		if len(comp.ToolCalls) > 0 {
			for _, d := range datasets {
				if d.ID == comp.ToolCalls[0].Function.Name {
					ds = d
					break
				}
			}
		}
		if ds == nil {
			return nil, nil
		}
	}
	docs, err := ds.Retrieve(ctx, req)
	if err != nil {
		return nil, nodeError("dataset %q: %w", ds.ID, err)
	}
	hits := make([]hit, len(docs))
	for i, d := range docs {
		hits[i] = hit{doc: d, ds: ds}
	}
	return hits, nil
}
