package knowledge

import (
	"context"
	"errors"
)

// ErrUnknownDataset is wrapped by Registry.Lookup's error for a dataset id
// the configuration does not map.
var ErrUnknownDataset = errors.New("unknown dataset")

// Backend is one dataset's retrieval protocol.
type Backend interface {
	Retrieve(ctx context.Context, r *Request) ([]Doc, error)
}

// Request is one retrieval.
type Request struct {
	// Query is the text searched for.
	Query string
	// Filter is the node's metadata filter; nil when it filters nothing.
	Filter *Filter
}

// Filter is Dify's MetadataFilteringCondition, sent as the External
// Knowledge API's metadata_condition and inside the dataset retrieve
// API's retrieval_model.metadata_filtering_conditions.
type Filter struct {
	LogicalOperator string      `json:"logical_operator"`
	Conditions      []Condition `json:"conditions"`
}

// Condition is one metadata condition. Value is a string, a number, a
// list of strings or nil.
type Condition struct {
	Name               string `json:"name"`
	ComparisonOperator string `json:"comparison_operator"`
	Value              any    `json:"value"`
}

// Doc is one retrieved chunk.
type Doc struct {
	// External is set for a record of the External Knowledge API.
	External bool
	Content  string
	Score    float64
	Title    string
	// Metadata is an external record's metadata object.
	Metadata map[string]any

	// The rest describes a Dify segment (KindDify).
	SegmentID       string
	DocumentID      string
	DocumentName    string
	DataSourceType  string
	IndexNodeHash   string
	Summary         string
	HitCount        int64
	WordCount       int64
	SegmentPosition int64
	DocMetadata     map[string]any
	ChildChunks     []any
	Files           []any
}
