package retrieval

import (
	"context"

	"github.com/flowrun/flowrun/internal/knowledge"
	"github.com/flowrun/flowrun/internal/run"
)

// automatic is automatic metadata filtering: Dify asks the metadata
// model which of the datasets' metadata fields the query constrains.
// flowrun does not know the fields of remote datasets, so, like Dify when
// the datasets declare none or the model's answer cannot be used, it
// filters nothing. A node without a metadata model fails, as in Dify.
func (f *filter) automatic(_ context.Context, _ *run.Exec, _ string, _ []*knowledge.Dataset, _ *spent) (*knowledge.Filter, error) {
	if f.model == nil {
		return nil, nodeError("metadata_model_config is required for this method")
	}
	return nil, nil
}
