package retrieval

import (
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/knowledge/knowledgetest"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// TestMultipleDifyDatasetsMergeByScore: two Dify datasets, reranking
// off: every chunk below the threshold is dropped, the rest sorted by
// score and cut to top_k; positions are the ranks.
func TestMultipleDifyDatasetsMergeByScore(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	o := b.run(t, doc(map[string]any{"dataset_ids": []any{"docs", "guide"}, "retrieval_mode": "multiple",
		"multiple_retrieval_config": multiple(3, 0.55, false)}), map[string]any{"q": "how to start"})
	items := o.result(t)
	if got := contents(items); got != "S1@0.95#1 S4@0.85#2 S2@0.6#3 " {
		t.Fatalf("result = %s", got)
	}
	want := `{"content":"S1","files":null,"metadata":{"_source":"knowledge","child_chunks":[],"data_source_type":"upload_file",` +
		`"dataset_id":"docs","dataset_name":"Docs","doc_metadata":{"author":"ann"},"document_id":"doc-1","document_name":"guide.pdf",` +
		`"position":1,"retriever_from":"workflow","score":0.95,"segment_hit_count":3,"segment_id":"seg-1",` +
		`"segment_index_node_hash":"hash-seg-1","segment_position":1,"segment_word_count":1},"summary":null,"title":"guide.pdf"}`
	if got := sharedtest.JSON(t, items[0]); got != want {
		t.Fatalf("item =\n%s\nwant\n%s", got, want)
	}
	reqs := b.dify.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %+v", reqs)
	}
	for _, r := range reqs {
		if r.Auth != "Bearer "+difyKey || sharedtest.JSON(t, r.Body) != `{"query":"how to start"}` {
			t.Errorf("request %+v", r)
		}
	}
	if in := sharedtest.JSON(t, o.kr(t).Inputs); in != `{"query":"how to start"}` {
		t.Errorf("inputs = %s", in)
	}
}

// TestMultipleExternalDatasetsKeepFirstTopK: when the last dataset is
// external, Dify keeps the first top_k chunks, whatever their score and
// the node's threshold; each dataset's own settings go to its API.
func TestMultipleExternalDatasetsKeepFirstTopK(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	o := b.run(t, doc(map[string]any{"dataset_ids": []any{"faq", "manual"},
		"multiple_retrieval_config": multiple(4, 0.85, false)}), map[string]any{"q": "refunds"})
	items := o.result(t)
	// faq answers A, B, C (its top_k 3, no threshold), manual D (its
	// threshold 0.5): the first 4 are A, B, C, D, then sorted.
	if got := contents(items); got != "A@0.9#1 D@0.8#2 B@0.7#3 C@0.4#4 " {
		t.Fatalf("result = %s", got)
	}
	want := `{"content":"A","files":null,"metadata":{"_source":"knowledge","child_chunks":[],"data_source_type":"external",` +
		`"dataset_id":"faq","dataset_name":"FAQ","doc_metadata":{"dataset_id":"faq","dataset_name":"FAQ","document_id":"doc-a",` +
		`"lang":"en","score":0.9,"title":"a.md","year":2024},"document_id":"doc-a","document_name":"a.md","position":1,` +
		`"retriever_from":"workflow","score":0.9,"segment_hit_count":0,"segment_id":null,"segment_index_node_hash":null,` +
		`"segment_position":0,"segment_word_count":0},"summary":null,"title":"a.md"}`
	if got := sharedtest.JSON(t, items[0]); got != want {
		t.Fatalf("item =\n%s\nwant\n%s", got, want)
	}
	if md := items[2].(map[string]any)["metadata"].(map[string]any); md["document_id"] != "b.md" {
		t.Errorf("a record without document_id is named by its title: %v", md["document_id"])
	}
	bodies := map[string]string{}
	for _, r := range b.ext.Requests() {
		if r.Auth != "Bearer "+extKey || r.Path != "/retrieval" {
			t.Errorf("request %+v", r)
		}
		bodies[r.Body["knowledge_id"].(string)] = sharedtest.JSON(t, r.Body)
	}
	if bodies["kb-faq"] != `{"knowledge_id":"kb-faq","query":"refunds","retrieval_setting":{"score_threshold":0,"top_k":3}}` ||
		bodies["kb-manual"] != `{"knowledge_id":"kb-manual","query":"refunds","retrieval_setting":{"score_threshold":0.5,"top_k":2}}` {
		t.Fatalf("bodies = %v", bodies)
	}
}

// TestMixedDatasets: external and Dify datasets together need reranking
// (Dify's rule); with it and no reranking model flowrun merges by score.
func TestMixedDatasets(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	data := map[string]any{"dataset_ids": []any{"faq", "docs"}, "multiple_retrieval_config": multiple(4, 0.5, false)}
	o := b.run(t, doc(data), map[string]any{"q": "x"})
	if n := o.kr(t); n.Status != run.StatusFailed || n.Error != errMixed.Error() || n.ErrorType != ErrTypeNode {
		t.Fatalf("node %s %s %q", n.Status, n.ErrorType, n.Error)
	}
	data["multiple_retrieval_config"] = multiple(4, 0.5, true)
	o = b.run(t, doc(data), map[string]any{"q": "x"})
	if got := contents(o.result(t)); got != "S1@0.95#1 A@0.9#2 B@0.7#3 S2@0.6#4 " {
		t.Fatalf("result = %s", got)
	}
}

// TestThresholdNullAndTopKZero: a null threshold is 0; top_k 0 skips
// Dify datasets (Dify queries them only when top_k > 0) and keeps every
// external chunk.
func TestThresholdNullAndTopKZero(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	o := b.run(t, doc(map[string]any{"dataset_ids": []any{"guide"}, "multiple_retrieval_config": multiple(2, nil, false)}), map[string]any{"q": "x"})
	if got := contents(o.result(t)); got != "S4@0.85#1 S5@0.2#2 " {
		t.Fatalf("result = %s", got)
	}
	o = b.run(t, doc(map[string]any{"dataset_ids": []any{"guide", "faq"}, "multiple_retrieval_config": multiple(0, nil, true)}), map[string]any{"q": "x"})
	if got := contents(o.result(t)); got != "A@0.9#1 B@0.7#2 C@0.4#3 " {
		t.Fatalf("result = %s", got)
	}
}

// TestBackendErrors: a backend's error status fails the node with its
// body (Dify's message for the dataset API); the error strategy applies.
func TestBackendErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cases := []struct {
		name, dataset, want string
		fail                *knowledgetest.Failure
	}{
		{"dify 404", "gone", `dataset "gone": dataset retrieve API: HTTP 404 not_found: Dataset not found.`, nil},
		{"unknown dataset", "nope", `unknown dataset: "nope" is not in the knowledge configuration (knowledge.yaml)`, nil},
		{"external 500", "faq", `dataset "faq": upstream exploded`, &knowledgetest.Failure{Status: 500, Body: "upstream exploded"}},
		{"external 502 empty", "faq", `dataset "faq": HTTP 502`, &knowledgetest.Failure{Status: 502}},
		{"external bad JSON", "faq", `dataset "faq": POST ` + b.ext.URL + `/retrieval: the response is not {"records": [...]}: invalid character 'o' in literal null (expecting 'u')`, &knowledgetest.Failure{Status: 200, Body: "not json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bb := b
			if c.fail != nil {
				// A bundle of its own: Fail changes the stub for every
				// request.
				bb = setup(t, nil)
				bb.ext.Fail(c.fail)
				c.want = strings.ReplaceAll(c.want, b.ext.URL, bb.ext.URL)
			}
			o := bb.run(t, doc(map[string]any{"dataset_ids": []any{c.dataset}, "multiple_retrieval_config": multiple(4, nil, false)}), map[string]any{"q": "x"})
			n := o.kr(t)
			if n.Status != run.StatusFailed || n.ErrorType != ErrTypeNode || n.Error != c.want {
				t.Fatalf("node %s %s %q\nwant %q", n.Status, n.ErrorType, n.Error, c.want)
			}
			if o.info.Status != run.StatusFailed {
				t.Fatalf("run %s", o.info.Status)
			}
		})
	}
	t.Run("default-value", func(t *testing.T) {
		bb := setup(t, nil)
		bb.ext.Fail(&knowledgetest.Failure{Status: 503, Body: "busy"})
		o := bb.run(t, doc(map[string]any{"dataset_ids": []any{"faq"}, "multiple_retrieval_config": multiple(4, nil, false),
			"error_strategy": "default-value", "default_value": []any{map[string]any{"key": "result", "type": "array[object]", "value": []any{}}}}), map[string]any{"q": "x"})
		n := o.kr(t)
		if o.info.Status != run.StatusPartialSucceeded || n.Status != run.StatusException || sharedtest.JSON(t, n.Outputs) != `{"result":[],"error_message":"dataset \"faq\": busy","error_type":"KnowledgeRetrievalNodeError"}` {
			t.Fatalf("run %s, node %s %s", o.info.Status, n.Status, sharedtest.JSON(t, n.Outputs))
		}
	})
}

// TestQuery: a query that is not a string fails as in Dify; an empty
// one, or a node with no query selector, retrieves nothing.
func TestQuery(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	data := map[string]any{"dataset_ids": []any{"faq"}, "multiple_retrieval_config": multiple(4, nil, false)}
	data["query_variable_selector"] = []any{"start", "n"}
	n := b.run(t, doc(data), map[string]any{"n": 3}).kr(t)
	if n.Status != run.StatusFailed || n.Error != "Query variable is not string type." {
		t.Fatalf("node %s %q", n.Status, n.Error)
	}
	data["query_variable_selector"] = []any{"start", "q"}
	if got := b.run(t, doc(data), map[string]any{"q": ""}).result(t); len(got) != 0 {
		t.Fatalf("empty query: %v", got)
	}
	data["query_variable_selector"] = []any{}
	n = b.run(t, doc(data), map[string]any{"q": "x"}).kr(t)
	if n.Status != run.StatusSucceeded || len(n.Outputs) != 0 {
		t.Fatalf("no selector: %s %v", n.Status, n.Outputs)
	}
	if len(b.ext.Requests()) != 0 {
		t.Fatal("a backend was asked")
	}
}

// TestManualMetadataFilter: conditions are templated (a lone reference
// keeps its number, text is collapsed) and sent in each protocol's field.
func TestManualMetadataFilter(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	o := b.run(t, doc(map[string]any{"dataset_ids": []any{"faq", "docs"}, "multiple_retrieval_config": multiple(4, nil, true),
		"metadata_filtering_mode": "manual",
		"metadata_filtering_conditions": map[string]any{"logical_operator": "or", "conditions": []any{
			map[string]any{"name": "author", "comparison_operator": "is", "value": "by {{#start.author#}}\n\t!"},
			map[string]any{"name": "year", "comparison_operator": "≥", "value": "{{#start.n#}}"},
			map[string]any{"name": "lang", "comparison_operator": "in", "value": []any{"{{#start.author#}}", "fr"}},
		}}}), map[string]any{"q": "x", "author": "ann", "n": 2020})
	o.result(t)
	cond := `{"conditions":[{"comparison_operator":"is","name":"author","value":"by ann !"},` +
		`{"comparison_operator":"≥","name":"year","value":2020},{"comparison_operator":"in","name":"lang","value":["ann","fr"]}],"logical_operator":"or"}`
	if got := sharedtest.JSON(t, b.ext.Requests()[0].Body["metadata_condition"]); got != cond {
		t.Errorf("external metadata_condition = %s", got)
	}
	rm := b.dify.Requests()[0].Body["retrieval_model"].(map[string]any)
	if got := sharedtest.JSON(t, rm["metadata_filtering_conditions"]); got != cond || rm["search_method"] != "semantic_search" {
		t.Errorf("dify retrieval_model = %s", sharedtest.JSON(t, rm))
	}
}
