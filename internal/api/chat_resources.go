package api

import (
	"bytes"
	"encoding/json"
	"maps"

	"github.com/flowrun/flowrun/internal/run"
)

// resourceKeys is the key order of Dify's RetrievalSourceMetadata, as
// message_end and the blocking body carry it.
var resourceKeys = []string{
	"position", "dataset_id", "dataset_name", "document_id", "document_name", "data_source_type", "segment_id",
	"retriever_from", "score", "hit_count", "word_count", "segment_position", "index_node_hash", "content", "page",
	"doc_metadata", "title", "files", "summary",
}

// storedResourceKeys is the key order of a message item's
// retriever_resources (Dify's RetrieverResource), between its fresh id
// and message_id and its created_at.
var storedResourceKeys = []string{
	"position", "dataset_id", "dataset_name", "document_id", "document_name", "data_source_type", "segment_id",
	"score", "hit_count", "word_count", "segment_position", "index_node_hash", "content", "summary",
}

// showResources reports whether the app shows retriever resources
// (features.retriever_resource.enabled).
func showResources(wf *run.Workflow) bool {
	f, _ := wf.Doc.Workflow.Features["retriever_resource"].(map[string]any)
	on, _ := f["enabled"].(bool)
	return on
}

// addResources merges an LLM node's retriever resources into the turn's
// as Dify's MessageCycleManager.handle_retriever_resources does: a
// resource whose (dataset_id, document_id) an earlier node already gave
// is dropped, then positions are renumbered from 1.
func (t *chatTurn) addResources(rs []map[string]any) {
	key := func(r map[string]any) ([2]string, bool) {
		ds, _ := r["dataset_id"].(string)
		doc, _ := r["document_id"].(string)
		return [2]string{ds, doc}, ds != "" && doc != ""
	}
	seen := map[[2]string]bool{}
	for _, r := range t.resources {
		if k, ok := key(r); ok {
			seen[k] = true
		}
	}
	for _, r := range rs {
		if k, ok := key(r); ok && seen[k] {
			continue
		}
		t.resources = append(t.resources, maps.Clone(r))
	}
	for i, r := range t.resources {
		r["position"] = int64(i + 1)
	}
}

// writeResources writes the turn's retriever resources.
func (t *chatTurn) writeResources(e *enc) {
	e.b = append(e.b, '[')
	e.first = true
	for _, r := range t.resources {
		e.sep()
		e.open()
		for _, k := range resourceKeys {
			e.plainKey(k)
			e.value(r[k])
		}
		e.close()
	}
	e.b = append(e.b, ']')
	e.first = false
}

// writeStoredResources writes the retriever_resources of a stored
// message's metadata as the messages API does: each with a fresh id and
// message_id, as Dify (1.12.1) makes them per response.
func writeStoredResources(e *enc, metadata []byte, newID func() string) {
	var md struct {
		Resources []map[string]any `json:"retriever_resources"`
	}
	dec := json.NewDecoder(bytes.NewReader(metadata))
	dec.UseNumber()
	if len(metadata) == 0 || dec.Decode(&md) != nil {
		md.Resources = nil
	}
	e.b = append(e.b, '[')
	e.first = true
	for _, r := range md.Resources {
		e.sep()
		e.open()
		e.plainKey("id")
		e.str(newID())
		e.plainKey("message_id")
		e.str(newID())
		for _, k := range storedResourceKeys {
			e.plainKey(k)
			e.value(run.Normalize(r[k]))
		}
		e.plainKey("created_at")
		e.null()
		e.close()
	}
	e.b = append(e.b, ']')
	e.first = false
}
