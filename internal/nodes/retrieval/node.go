// Package retrieval implements Dify's `knowledge-retrieval` workflow node
// on top of the knowledge backends (package knowledge).
//
// At load time the node parses its DSL data (query_variable_selector,
// query_attachment_selector, dataset_ids, retrieval_mode,
// multiple_retrieval_config, single_retrieval_config, the metadata
// filtering fields) and checks the variables it references; it does not
// look its datasets up, so a document naming a dataset that is not
// configured still loads and fails when the node runs, naming it. At run
// time it resolves the query, builds the metadata filter, asks every
// dataset (multiple mode, concurrently) or the one a model picks (single
// mode), merges the results as Dify's DatasetRetrieval does, and outputs
// `result` in Dify's shape. docs/knowledge.md describes the node and the
// backends.
package retrieval

import (
	"fmt"
	"slices"

	"github.com/flowrun/flowrun/internal/knowledge"
	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/run"
)

// TypeName is the node's DSL type.
const TypeName = "knowledge-retrieval"

// ErrTypeNode is the error_type of the node's failures (Dify's
// KnowledgeRetrievalNodeError).
const ErrTypeNode = "KnowledgeRetrievalNodeError"

// Register adds the knowledge-retrieval node type to r: its nodes query
// the datasets of kr and route (single mode) and filter (automatic
// metadata filtering) with the models of models, which may be nil when no
// model is configured.
func Register(r *run.Registry, kr *knowledge.Registry, models *llm.Models) {
	r.Register(run.NodeType{
		Name:  TypeName,
		Build: func(b *run.Build) (run.Executor, error) { return build(b, kr, models) },
	})
}

// modelData is a DSL model block (Dify's ModelConfig).
type modelData struct {
	Provider         string         `json:"provider"`
	Name             string         `json:"name"`
	Mode             string         `json:"mode"`
	CompletionParams map[string]any `json:"completion_params"`
}

// nodeData is Dify's KnowledgeRetrievalNodeData.
type nodeData struct {
	QuerySelector      run.Selector `json:"query_variable_selector"`
	AttachmentSelector run.Selector `json:"query_attachment_selector"`
	DatasetIDs         []string     `json:"dataset_ids"`
	RetrievalMode      string       `json:"retrieval_mode"`
	Multiple           *struct {
		TopK            int      `json:"top_k"`
		ScoreThreshold  *float64 `json:"score_threshold"`
		RerankingEnable *bool    `json:"reranking_enable"`
		RerankingMode   string   `json:"reranking_mode"`
		RerankingModel  *struct {
			Provider string `json:"provider"`
			Model    string `json:"model"`
		} `json:"reranking_model"`
		Weights map[string]any `json:"weights"`
	} `json:"multiple_retrieval_config"`
	Single *struct {
		Model modelData `json:"model"`
	} `json:"single_retrieval_config"`
	MetadataMode       string     `json:"metadata_filtering_mode"`
	MetadataModel      *modelData `json:"metadata_model_config"`
	MetadataConditions *struct {
		LogicalOperator string `json:"logical_operator"`
		Conditions      []struct {
			Name               string `json:"name"`
			ComparisonOperator string `json:"comparison_operator"`
			Value              any    `json:"value"`
		} `json:"conditions"`
	} `json:"metadata_filtering_conditions"`
}

// node is a compiled knowledge-retrieval node.
type node struct {
	kr                *knowledge.Registry
	query, attachment run.Selector
	datasets          []string
	single            bool
	// Multiple mode.
	topK      int
	threshold float64
	rerank    bool
	rerankBy  string
	// router is the single mode's model.
	router *llm.Model
	filter *filter
	// missing is the error of a mode without its configuration block,
	// reported when the node runs, as Dify does.
	missing string
}

var (
	modes         = []string{"single", "multiple"}
	metadataModes = []string{"disabled", "automatic", "manual"}
)

func build(b *run.Build, kr *knowledge.Registry, models *llm.Models) (run.Executor, error) {
	var d nodeData
	if err := b.Decode(&d); err != nil {
		return nil, err
	}
	n := &node{kr: kr, datasets: d.DatasetIDs, query: d.QuerySelector, attachment: d.AttachmentSelector}
	if len(n.query) > 0 {
		b.Selector("query_variable_selector", n.query)
	}
	if len(n.attachment) > 0 {
		b.Selector("query_attachment_selector", n.attachment)
	}
	mode := d.RetrievalMode
	if mode == "" {
		mode = "multiple"
	}
	if !slices.Contains(modes, mode) {
		b.Errorf("retrieval_mode: %q is not single or multiple", d.RetrievalMode)
	}
	n.single = mode == "single"
	switch {
	case n.single && d.Single == nil:
		n.missing = "single_retrieval_config is required for single retrieval mode"
	case n.single:
		n.router = resolve(b, models, &d.Single.Model)
	case d.Multiple == nil:
		n.missing = "multiple_retrieval_config is required"
	default:
		m := d.Multiple
		n.topK, n.rerankBy = m.TopK, m.RerankingMode
		if m.ScoreThreshold != nil {
			n.threshold = *m.ScoreThreshold
		}
		// Dify's model default is true; the UI writes false.
		n.rerank = m.RerankingEnable == nil || *m.RerankingEnable
		if m.TopK < 0 {
			b.Errorf("multiple_retrieval_config.top_k: %d is negative", m.TopK)
		}
	}
	mm := d.MetadataMode
	if mm == "" {
		mm = "disabled"
	}
	if !slices.Contains(metadataModes, mm) {
		b.Errorf("metadata_filtering_mode: %q is not disabled, automatic or manual", d.MetadataMode)
	}
	n.filter = buildFilter(b, mm, &d, models)
	for i, id := range d.DatasetIDs {
		if id == "" {
			b.Errorf("dataset_ids[%d] is empty", i)
		}
	}
	return n, nil
}

// resolve resolves a DSL model; models nil (no model configured) gives a
// model whose calls fail.
func resolve(b *run.Build, models *llm.Models, m *modelData) *llm.Model {
	if models == nil {
		models, _ = llm.NewModels(llm.Config{})
	}
	return models.Resolve(b, m.Provider, m.Name, m.CompletionParams)
}

// nodeError is a failure of the node.
func nodeError(format string, args ...any) error {
	return &run.NodeError{Type: ErrTypeNode, Err: fmt.Errorf(format, args...)}
}
