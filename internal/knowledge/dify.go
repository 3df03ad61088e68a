package knowledge

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"
)

// dify speaks the dataset retrieve endpoint of Dify's service API.
type dify struct {
	c       *client
	url     string
	key     string
	model   map[string]any
	timeout time.Duration
}

// defaultRetrievalModel is sent with a metadata filter when the entry
// configures no retrieval_model: the endpoint reads the filter from
// retrieval_model, and needs reranking_enable and score_threshold_enabled
// in it (Dify's default_retrieval_model).
func defaultRetrievalModel() map[string]any {
	return map[string]any{
		"search_method": "semantic_search", "reranking_enable": false, "reranking_mode": "reranking_model",
		"reranking_model": map[string]any{"reranking_provider_name": "", "reranking_model_name": ""},
		"weights":         nil, "top_k": 4, "score_threshold_enabled": false, "score_threshold": nil,
	}
}

// difyRecord is one record of the answer.
type difyRecord struct {
	Segment struct {
		ID            string  `json:"id"`
		Position      int64   `json:"position"`
		DocumentID    string  `json:"document_id"`
		Content       string  `json:"content"`
		SignContent   string  `json:"sign_content"`
		Answer        *string `json:"answer"`
		WordCount     int64   `json:"word_count"`
		HitCount      int64   `json:"hit_count"`
		IndexNodeHash *string `json:"index_node_hash"`
		Document      *struct {
			ID             string         `json:"id"`
			DataSourceType string         `json:"data_source_type"`
			Name           string         `json:"name"`
			DocMetadata    map[string]any `json:"doc_metadata"`
		} `json:"document"`
	} `json:"segment"`
	ChildChunks []any        `json:"child_chunks"`
	Score       *json.Number `json:"score"`
	Files       []any        `json:"files"`
	Summary     *string      `json:"summary"`
}

func newDify(c *client, d *DatasetConfig) *dify {
	remote := d.Dataset
	if remote == "" {
		remote = d.ID
	}
	return &dify{c: c, url: strings.TrimRight(d.BaseURL, "/") + "/datasets/" + url.PathEscape(remote) + "/retrieve",
		key: d.APIKey, model: d.RetrievalModel, timeout: timeout(d)}
}

// Retrieve posts the query to /datasets/{id}/retrieve and reads its
// records as Dify's own segments.
func (d *dify) Retrieve(ctx context.Context, r *Request) ([]Doc, error) {
	body := map[string]any{"query": r.Query}
	model := d.model
	if r.Filter != nil {
		if model == nil {
			model = defaultRetrievalModel()
		}
		model = maps.Clone(model)
		model["metadata_filtering_conditions"] = r.Filter
	}
	if model != nil {
		body["retrieval_model"] = model
	}
	data, err := d.c.post(ctx, d.url, d.key, d.timeout, body)
	if err != nil {
		return nil, difyError(err)
	}
	var resp struct {
		Records []difyRecord `json:"records"`
	}
	if err := decode(data, &resp); err != nil {
		return nil, fmt.Errorf("POST %s: the response is not Dify's {\"records\": [...]}: %w", d.url, err)
	}
	docs := make([]Doc, 0, len(resp.Records))
	for _, rec := range resp.Records {
		s := &rec.Segment
		content := s.SignContent
		if content == "" {
			content = s.Content
		}
		if s.Answer != nil && *s.Answer != "" {
			content = "question:" + content + " \nanswer:" + *s.Answer
		}
		doc := Doc{Content: content, SegmentID: s.ID, DocumentID: s.DocumentID, WordCount: s.WordCount,
			HitCount: s.HitCount, SegmentPosition: s.Position, ChildChunks: rec.ChildChunks, Files: rec.Files}
		if rec.Score != nil {
			doc.Score, _ = rec.Score.Float64()
		}
		if s.IndexNodeHash != nil {
			doc.IndexNodeHash = *s.IndexNodeHash
		}
		if rec.Summary != nil {
			doc.Summary = *rec.Summary
		}
		if s.Document != nil {
			doc.DocumentName, doc.DataSourceType, doc.DocMetadata = s.Document.Name, s.Document.DataSourceType, s.Document.DocMetadata
			if doc.DocumentID == "" {
				doc.DocumentID = s.Document.ID
			}
		}
		doc.Title = doc.DocumentName
		docs = append(docs, doc)
	}
	return docs, nil
}

// difyError reads the message of Dify's {code, message, status} error
// body.
func difyError(err error) error {
	se, ok := err.(*statusError)
	if !ok {
		return err
	}
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal([]byte(se.body), &body) == nil && body.Message != "" {
		return fmt.Errorf("dataset retrieve API: HTTP %d %s: %s", se.status, body.Code, body.Message)
	}
	return fmt.Errorf("dataset retrieve API: %w", se)
}
