package knowledge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// defaultExternalTopK is Dify's top_k of an external dataset without one.
const defaultExternalTopK = 2

// external speaks Dify's External Knowledge API.
type external struct {
	c         *client
	url, key  string
	knowledge string
	topK      int
	threshold float64
	timeout   time.Duration
}

// externalRequest is the body Dify posts, in its key order.
type externalRequest struct {
	RetrievalSetting struct {
		TopK           int     `json:"top_k"`
		ScoreThreshold float64 `json:"score_threshold"`
	} `json:"retrieval_setting"`
	Query       string `json:"query"`
	KnowledgeID string `json:"knowledge_id"`
	// Metadata is left out when the node filters nothing, as Dify does
	// since issue #21070.
	Metadata *Filter `json:"metadata_condition,omitempty"`
}

// externalRecord is one record of the answer.
type externalRecord struct {
	Content  any            `json:"content"`
	Score    any            `json:"score"`
	Title    any            `json:"title"`
	Metadata map[string]any `json:"metadata"`
}

func newExternal(c *client, d *DatasetConfig) *external {
	e := &external{c: c, url: strings.TrimRight(d.Endpoint, "/") + "/retrieval", key: d.APIKey,
		knowledge: d.KnowledgeID, topK: defaultExternalTopK, timeout: timeout(d)}
	if d.TopK != nil {
		e.topK = *d.TopK
	}
	if d.ScoreThresholdEnabled && d.ScoreThreshold != nil {
		e.threshold = *d.ScoreThreshold
	}
	return e
}

// Retrieve posts the query to <endpoint>/retrieval and reads its records.
func (e *external) Retrieve(ctx context.Context, r *Request) ([]Doc, error) {
	body := externalRequest{Query: r.Query, KnowledgeID: e.knowledge, Metadata: r.Filter}
	body.RetrievalSetting.TopK, body.RetrievalSetting.ScoreThreshold = e.topK, e.threshold
	data, err := e.c.post(ctx, e.url, e.key, e.timeout, body)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Records []externalRecord `json:"records"`
	}
	if err := decode(data, &resp); err != nil {
		return nil, fmt.Errorf("POST %s: the response is not {\"records\": [...]}: %w", e.url, err)
	}
	docs := make([]Doc, 0, len(resp.Records))
	for i, rec := range resp.Records {
		content, ok := rec.Content.(string)
		if !ok {
			return nil, fmt.Errorf("POST %s: records[%d].content is not a string", e.url, i)
		}
		score, ok := number(rec.Score)
		if !ok {
			return nil, fmt.Errorf("POST %s: records[%d].score is not a number", e.url, i)
		}
		title, _ := rec.Title.(string)
		md := rec.Metadata
		if md == nil {
			md = map[string]any{}
		}
		docs = append(docs, Doc{External: true, Content: content, Score: score, Title: title, Metadata: md})
	}
	return docs, nil
}

// number reads a JSON number; null counts as 0.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case nil:
		return 0, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// timeout is d's timeout, 0 when it sets none (checked by ParseConfig).
func timeout(d *DatasetConfig) time.Duration {
	t, _ := time.ParseDuration(d.Timeout)
	return t
}
