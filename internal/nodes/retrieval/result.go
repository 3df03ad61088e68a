package retrieval

import (
	"maps"
	"slices"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
)

// items renders the chunks as the node's result, in Dify's Source shape:
// external chunks first, then Dify segments, sorted by score (stable),
// metadata.position their 1-based rank.
func items(hits []hit) []any {
	ordered := make([]hit, 0, len(hits))
	for _, h := range hits {
		if h.doc.External {
			ordered = append(ordered, h)
		}
	}
	for _, h := range hits {
		if !h.doc.External {
			ordered = append(ordered, h)
		}
	}
	slices.SortStableFunc(ordered, func(a, b hit) int { return compareScore(b, a) })
	out := make([]any, len(ordered))
	for i, h := range ordered {
		if h.doc.External {
			out[i] = externalItem(h, i+1)
		} else {
			out[i] = segmentItem(h, i+1)
		}
	}
	return out
}

// externalItem is an External Knowledge API record: its metadata, with
// score, title, dataset_id and dataset_name set, is doc_metadata.
func externalItem(h hit, position int) map[string]any {
	d := &h.doc
	md, _ := run.Normalize(maps.Clone(d.Metadata)).(map[string]any)
	if md == nil {
		md = map[string]any{}
	}
	md["score"], md["title"], md["dataset_id"], md["dataset_name"] = d.Score, d.Title, h.ds.ID, h.ds.Name
	docID := d.Title
	if v, ok := md["document_id"]; ok && py.Truthy(v) {
		docID = py.Str(v)
	}
	return map[string]any{
		"metadata": map[string]any{
			"_source": "knowledge", "dataset_id": h.ds.ID, "dataset_name": h.ds.Name, "document_id": docID,
			"document_name": d.Title, "data_source_type": "external", "segment_id": nil, "retriever_from": "workflow",
			"score": d.Score, "child_chunks": []any{}, "segment_hit_count": int64(0), "segment_word_count": int64(0),
			"segment_position": int64(0), "segment_index_node_hash": nil, "doc_metadata": md, "position": int64(position),
		},
		"title": d.Title, "files": nil, "content": d.Content, "summary": nil,
	}
}

// segmentItem is a segment of a Dify dataset.
func segmentItem(h hit, position int) map[string]any {
	d := &h.doc
	chunks := make([]any, 0, len(d.ChildChunks))
	for _, c := range d.ChildChunks {
		cm, _ := run.Normalize(c).(map[string]any)
		score, _ := cm["score"].(float64)
		if i, ok := cm["score"].(int64); ok {
			score = float64(i)
		}
		pos, _ := cm["position"].(int64)
		chunks = append(chunks, map[string]any{"id": py.Str(orEmpty(cm["id"])), "content": py.Str(orEmpty(cm["content"])), "position": pos, "score": score})
	}
	item := map[string]any{
		"metadata": map[string]any{
			"_source": "knowledge", "dataset_id": h.ds.ID, "dataset_name": h.ds.Name, "document_id": d.DocumentID,
			"document_name": d.DocumentName, "data_source_type": d.DataSourceType, "segment_id": d.SegmentID,
			"retriever_from": "workflow", "score": d.Score, "child_chunks": chunks, "segment_hit_count": d.HitCount,
			"segment_word_count": d.WordCount, "segment_position": d.SegmentPosition, "segment_index_node_hash": nullable(d.IndexNodeHash),
			"doc_metadata": docMetadata(d.DocMetadata), "position": int64(position),
		},
		"title": d.DocumentName, "files": nil, "content": d.Content, "summary": nullable(d.Summary),
	}
	if len(d.Files) > 0 {
		item["files"] = run.Normalize(d.Files)
	}
	return item
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// docMetadata is a document's metadata, null when it has none.
func docMetadata(m map[string]any) any {
	if m == nil {
		return nil
	}
	return run.Normalize(m)
}
