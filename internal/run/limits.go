package run

import (
	"cmp"
	"errors"
	"fmt"
)

// Default document limits (see DocLimits).
const (
	// DefaultMaxDocBytes is Dify's DSL_MAX_SIZE.
	DefaultMaxDocBytes     = 10 << 20
	DefaultMaxNodes        = 20_000
	DefaultMaxEdges        = 40_000
	DefaultMaxYAMLNodes    = 1_000_000
	DefaultMaxMappingKeys  = 10_000
	DefaultMaxNestingDepth = 100
)

// DocLimits bound what a DSL document may hold. A document over any of
// them is refused with a *LimitError before the work it would cost is
// done: its bytes are checked first, the YAML nodes it may hold are
// estimated before it is parsed, and everything else is counted as it is
// decoded. Zero values take the defaults noted per field.
type DocLimits struct {
	// MaxBytes bounds the document's size (default 10 MiB, Dify's
	// DSL_MAX_SIZE).
	MaxBytes int
	// MaxNodes bounds the workflow's nodes, notes and container children
	// included (default 20,000).
	MaxNodes int
	// MaxEdges bounds the workflow's edges (default 40,000).
	MaxEdges int
	// MaxYAMLNodes bounds the YAML nodes: every scalar, sequence and
	// mapping, keys included, with aliases counted as often as they are
	// expanded (default 1,000,000). Before parsing, a document with more
	// indicator characters (, : - ? [ {) than this is refused too: each
	// YAML node but the first needs one, and the parser's cost grows
	// with the nodes.
	MaxYAMLNodes int
	// MaxMappingKeys bounds the keys of any one mapping (default 10,000).
	MaxMappingKeys int
	// MaxDepth bounds how deeply sequences and mappings nest (default 100).
	MaxDepth int
}

func (l DocLimits) withDefaults() DocLimits {
	l.MaxBytes = cmp.Or(l.MaxBytes, DefaultMaxDocBytes)
	l.MaxNodes = cmp.Or(l.MaxNodes, DefaultMaxNodes)
	l.MaxEdges = cmp.Or(l.MaxEdges, DefaultMaxEdges)
	l.MaxYAMLNodes = cmp.Or(l.MaxYAMLNodes, DefaultMaxYAMLNodes)
	l.MaxMappingKeys = cmp.Or(l.MaxMappingKeys, DefaultMaxMappingKeys)
	l.MaxDepth = cmp.Or(l.MaxDepth, DefaultMaxNestingDepth)
	return l
}

// ErrDocumentTooLarge is wrapped, with ErrInvalidDSL, by every *LimitError.
var ErrDocumentTooLarge = errors.New("document over a size limit")

// LimitError is a document over one of its DocLimits.
type LimitError struct {
	// Limit names the limit as the api's configuration does, e.g.
	// "DSL_MAX_NODES".
	Limit string
	// Max is the limit's value.
	Max int
	// What says what exceeded it, e.g. "workflow has 25000 nodes".
	What string
}

// Error names what exceeded which limit.
func (e *LimitError) Error() string {
	return fmt.Sprintf("invalid workflow DSL: %s (limit %s=%d)", e.What, e.Limit, e.Max)
}

// Unwrap makes errors.Is hold for ErrInvalidDSL and ErrDocumentTooLarge.
func (e *LimitError) Unwrap() []error { return []error{ErrInvalidDSL, ErrDocumentTooLarge} }

// Names of the limits in LimitError.Limit.
const (
	LimitBytes       = "DSL_MAX_BYTES"
	LimitNodes       = "DSL_MAX_NODES"
	LimitEdges       = "DSL_MAX_EDGES"
	LimitYAMLNodes   = "DSL_MAX_YAML_NODES"
	LimitMappingKeys = "DSL_MAX_MAPPING_KEYS"
	LimitDepth       = "DSL_MAX_DEPTH"
)

// checkBytes refuses a document over MaxBytes.
func (l DocLimits) checkBytes(data []byte) error {
	if len(data) > l.MaxBytes {
		return &LimitError{Limit: LimitBytes, Max: l.MaxBytes, What: fmt.Sprintf("document is %d bytes", len(data))}
	}
	return nil
}

// checkGraph refuses a workflow with more nodes or edges than allowed.
func (l DocLimits) checkGraph(nodes, edges int) error {
	if nodes > l.MaxNodes {
		return &LimitError{Limit: LimitNodes, Max: l.MaxNodes, What: fmt.Sprintf("workflow has %d nodes", nodes)}
	}
	if edges > l.MaxEdges {
		return &LimitError{Limit: LimitEdges, Max: l.MaxEdges, What: fmt.Sprintf("workflow has %d edges", edges)}
	}
	return nil
}
