package retrieval

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/flowrun/flowrun/internal/knowledge"
)

// errMixed is Dify's refusal to merge external and internal datasets
// without a reranking model.
var errMixed = errors.New("The configured knowledge base list have different indexing technique, please set reranking model.") //nolint:staticcheck // Dify's text

// multipleRetrieve asks every dataset at once and merges their chunks as
// Dify's DatasetRetrieval.multiple_retrieve does. The first failure
// cancels the other requests and fails the node.
func (n *node) multipleRetrieve(ctx context.Context, req *knowledge.Request, datasets []*knowledge.Dataset) ([]hit, error) {
	external := 0
	for _, ds := range datasets {
		if ds.External {
			external++
		}
	}
	if external > 0 && external < len(datasets) && (!n.rerank || n.rerankBy != "reranking_model") {
		return nil, nodeError("%w", errMixed)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	found := make([][]knowledge.Doc, len(datasets))
	errs := make([]error, len(datasets))
	var wg sync.WaitGroup
	for i, ds := range datasets {
		// Dify skips its own datasets when top_k is 0.
		if !ds.External && n.topK <= 0 {
			continue
		}
		wg.Go(func() {
			docs, err := ds.Retrieve(ctx, req)
			if err != nil {
				errs[i] = fmt.Errorf("dataset %q: %w", ds.ID, err)
				cancel(errs[i])
				return
			}
			found[i] = docs
		})
	}
	wg.Wait()
	if err := firstError(ctx, errs); err != nil {
		return nil, err
	}
	var hits []hit
	for i, docs := range found {
		for _, d := range docs {
			hits = append(hits, hit{doc: d, ds: datasets[i]})
		}
	}
	return dedupe(n.merge(hits, datasets[len(datasets)-1].External, len(datasets))), nil
}

// firstError is the error that cancelled the others, or the first one.
func firstError(ctx context.Context, errs []error) error {
	cause := context.Cause(ctx)
	for _, err := range errs {
		if err != nil && err == cause {
			return nodeError("%w", err)
		}
	}
	for _, err := range errs {
		if err != nil {
			return nodeError("%w", err)
		}
	}
	return nil
}

// merge cuts the datasets' chunks down to the node's top_k. Dify, with
// reranking off or a single dataset, goes by the kind of the last
// dataset: for its own datasets it drops the chunks below the score
// threshold, sorts by score and keeps top_k; for external ones it keeps
// the first top_k chunks as they arrived (here: in dataset order), with
// no threshold. With reranking on and several datasets Dify calls the
// reranking model; flowrun has none and merges by score instead (the
// first rule), as docs/knowledge.md says.
func (n *node) merge(hits []hit, lastExternal bool, count int) []hit {
	if lastExternal && !(n.rerank && count > 1) {
		if n.topK > 0 && len(hits) > n.topK {
			hits = hits[:n.topK]
		}
		return hits
	}
	kept := hits[:0]
	for _, h := range hits {
		if h.doc.Score >= n.threshold {
			kept = append(kept, h)
		}
	}
	slices.SortStableFunc(kept, func(a, b hit) int { return compareScore(b, a) })
	if n.topK > 0 && len(kept) > n.topK {
		kept = kept[:n.topK]
	}
	return kept
}

// dedupe keeps the first chunk of each Dify segment (Dify's doc_id
// check); external chunks are all kept.
func dedupe(hits []hit) []hit {
	seen := map[[2]string]bool{}
	out := hits[:0]
	for _, h := range hits {
		if !h.doc.External && h.doc.SegmentID != "" {
			k := [2]string{h.ds.ID, h.doc.SegmentID}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, h)
	}
	return out
}

// compareScore orders by score.
func compareScore(a, b hit) int {
	switch {
	case a.doc.Score < b.doc.Score:
		return -1
	case a.doc.Score > b.doc.Score:
		return 1
	}
	return 0
}
