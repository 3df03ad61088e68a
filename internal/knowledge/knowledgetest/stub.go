// Package knowledgetest has stand-ins for the two knowledge protocols,
// started on loopback by tests: an External Knowledge API server and a
// Dify service API serving dataset retrieval. Both check the Bearer key,
// record every request, and answer from records the test gives them.
package knowledgetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Record is one stored chunk.
type Record struct {
	Content string
	Score   float64
	Title   string
	// Metadata is an external record's metadata (sent as null when nil
	// and NullMetadata is set).
	Metadata     map[string]any
	NullMetadata bool
	// SegmentID, DocumentID and Answer describe a Dify segment.
	SegmentID, DocumentID, Answer string
}

// Request is a request a stub received: the Authorization header, the
// path and the decoded JSON body.
type Request struct {
	Auth string
	Path string
	Body map[string]any
}

// Failure makes a stub answer status with body for every request.
type Failure struct {
	Status int
	Body   string
}

// server is what both stubs share.
type server struct {
	URL  string
	key  string
	mu   sync.Mutex
	reqs []Request
	fail *Failure
}

// Requests returns the requests received so far.
func (s *server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Fail makes every later request answer f (nil: answer normally).
func (s *server) Fail(f *Failure) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

// take records r and returns its body, or answers it itself (bad key,
// failure) and returns nil.
func (s *server) take(w http.ResponseWriter, r *http.Request, unauthorized string) map[string]any {
	data, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(data, &body)
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Auth: r.Header.Get("Authorization"), Path: r.URL.Path, Body: body})
	fail := s.fail
	s.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusMethodNotAllowed)
		return nil
	}
	if r.Header.Get("Authorization") != "Bearer "+s.key {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, unauthorized)
		return nil
	}
	if fail != nil {
		w.WriteHeader(fail.Status)
		_, _ = io.WriteString(w, fail.Body)
		return nil
	}
	return body
}

func serve(t testing.TB, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// External is an External Knowledge API: POST <URL>/retrieval with
// knowledge bases by knowledge_id. It applies retrieval_setting as a real
// service does: records below score_threshold are dropped, at most top_k
// are returned, best first.
type External struct {
	server
	bases map[string][]Record
}

// NewExternal starts an External Knowledge API accepting key.
func NewExternal(t testing.TB, key string, bases map[string][]Record) *External {
	e := &External{server: server{key: key}, bases: bases}
	e.URL = serve(t, http.HandlerFunc(e.handle))
	return e
}

func (e *External) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/retrieval" {
		http.NotFound(w, r)
		return
	}
	body := e.take(w, r, `{"error_code": 1002, "error_msg": "Authorization failed"}`)
	if body == nil {
		return
	}
	recs, ok := e.bases[str(body["knowledge_id"])]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, map[string]any{"error_code": 2001, "error_msg": "The knowledge does not exist"})
		return
	}
	setting, _ := body["retrieval_setting"].(map[string]any)
	topK, _ := setting["top_k"].(float64)
	threshold, _ := setting["score_threshold"].(float64)
	out := []any{}
	for _, rec := range best(recs) {
		if rec.Score < threshold || len(out) >= int(topK) {
			continue
		}
		var md any = rec.Metadata
		if rec.Metadata == nil && !rec.NullMetadata {
			md = map[string]any{}
		}
		out = append(out, map[string]any{"content": rec.Content, "score": rec.Score, "title": rec.Title, "metadata": md})
	}
	writeJSON(w, map[string]any{"records": out})
}

// Dify is a Dify service API serving POST /v1/datasets/{id}/retrieve for
// its datasets, by remote id. Without retrieval_model it returns the 4
// best records, as a dataset's default settings do; with one, its top_k
// and enabled score_threshold.
type Dify struct {
	server
	datasets map[string][]Record
}

// NewDify starts a Dify service API accepting the dataset API key key.
// URL is its base URL, ending in /v1.
func NewDify(t testing.TB, key string, datasets map[string][]Record) *Dify {
	d := &Dify{server: server{key: key}, datasets: datasets}
	d.URL = serve(t, http.HandlerFunc(d.handle)) + "/v1"
	return d
}

func (d *Dify) handle(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/v1/datasets/")
	id, ok2 := strings.CutSuffix(id, "/retrieve")
	if !ok || !ok2 {
		http.NotFound(w, r)
		return
	}
	body := d.take(w, r, `{"code": "unauthorized", "message": "Access token is invalid", "status": 401}`)
	if body == nil {
		return
	}
	recs, ok := d.datasets[id]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"code": "not_found", "message": "Dataset not found.", "status": 404}`)
		return
	}
	topK, threshold := 4, 0.0
	if m, ok := body["retrieval_model"].(map[string]any); ok {
		if k, ok := m["top_k"].(float64); ok {
			topK = int(k)
		}
		if on, _ := m["score_threshold_enabled"].(bool); on {
			threshold, _ = m["score_threshold"].(float64)
		}
	}
	out := []any{}
	for _, rec := range best(recs) {
		if rec.Score < threshold || len(out) >= topK {
			continue
		}
		seg := map[string]any{
			"id": rec.SegmentID, "position": 1, "document_id": rec.DocumentID, "content": rec.Content, "sign_content": rec.Content,
			"answer": nilIfEmpty(rec.Answer), "word_count": len(strings.Fields(rec.Content)), "tokens": 10, "keywords": []any{},
			"index_node_id": "node-" + rec.SegmentID, "index_node_hash": "hash-" + rec.SegmentID, "hit_count": 3, "enabled": true,
			"status": "completed",
			"document": map[string]any{"id": rec.DocumentID, "data_source_type": "upload_file", "name": rec.Title,
				"doc_type": nil, "doc_metadata": rec.Metadata},
		}
		out = append(out, map[string]any{"segment": seg, "child_chunks": []any{}, "score": rec.Score,
			"tsne_position": nil, "files": []any{}, "summary": nil})
	}
	writeJSON(w, map[string]any{"query": map[string]any{"content": body["query"]}, "records": out})
}

// best returns recs by score, best first.
func best(recs []Record) []Record {
	out := slices.Clone(recs)
	slices.SortStableFunc(out, func(a, b Record) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
