package retrieval

import (
	"context"
	"fmt"
	"maps"
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/knowledge"
	"github.com/flowrun/flowrun/internal/knowledge/knowledgetest"
	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Keys the stubs accept.
const (
	extKey  = "ext-secret"
	difyKey = "dataset-secret"
)

// testBundle is a node registry wired to two stub backends.
type testBundle struct {
	ext  *knowledgetest.External
	dify *knowledgetest.Dify
	kr   *knowledge.Registry
	eng  *run.Engine
}

// stubRecords are the stubs' contents: external knowledge bases kb-faq
// and kb-manual, Dify datasets remote-docs and remote-guide.
var (
	extBases = map[string][]knowledgetest.Record{
		"kb-faq": {
			{Content: "A", Score: 0.9, Title: "a.md", Metadata: map[string]any{"document_id": "doc-a", "lang": "en", "year": 2024}},
			{Content: "B", Score: 0.7, Title: "b.md"},
			{Content: "C", Score: 0.4, Title: "c.md"},
		},
		"kb-manual": {{Content: "D", Score: 0.8, Title: "d.md"}, {Content: "E", Score: 0.3, Title: "e.md"}},
	}
	difySets = map[string][]knowledgetest.Record{
		"remote-docs": {
			{Content: "S1", Score: 0.95, Title: "guide.pdf", SegmentID: "seg-1", DocumentID: "doc-1", Metadata: map[string]any{"author": "ann"}},
			{Content: "S2", Score: 0.6, Title: "guide.pdf", SegmentID: "seg-2", DocumentID: "doc-1"},
			{Content: "S3", Score: 0.5, Title: "faq.md", SegmentID: "seg-3", DocumentID: "doc-2", Answer: "yes"},
		},
		"remote-guide": {
			{Content: "S4", Score: 0.85, Title: "howto.md", SegmentID: "seg-4", DocumentID: "doc-4"},
			{Content: "S5", Score: 0.2, Title: "howto.md", SegmentID: "seg-5", DocumentID: "doc-4"},
		},
	}
)

// knowledgeYAML maps datasets faq, manual (external) and docs, guide
// (Dify) to the stubs.
func knowledgeYAML(ext, dify string) string {
	return fmt.Sprintf(`datasets:
- {id: faq, name: FAQ, kind: external, endpoint: '%[1]s', api_key: '${TEST_EXT_KEY}', knowledge_id: kb-faq, top_k: 3}
- {id: manual, name: Manual, kind: external, endpoint: '%[1]s/', api_key: %[3]s, knowledge_id: kb-manual, score_threshold: 0.5, score_threshold_enabled: true}
- {id: docs, name: Docs, description: "product documentation", kind: dify, base_url: '%[2]s', api_key: %[4]s, dataset: remote-docs}
- {id: guide, name: Guide, kind: dify, base_url: '%[2]s', api_key: %[4]s, dataset: remote-guide}
- {id: gone, kind: dify, base_url: '%[2]s', api_key: %[4]s}
`, ext, dify, extKey, difyKey)
}

// allowLoopback is the SSRF guard with the stubs' address allow-listed.
func allowLoopback(t testing.TB) func(context.Context, string, string) (net.Conn, error) {
	t.Helper()
	dial, err := httpreq.Dialer(httpreq.Config{Allow: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return dial
}

func setup(t testing.TB, models *llm.Models) *testBundle {
	t.Helper()
	b := &testBundle{
		ext:  knowledgetest.NewExternal(t, extKey, extBases),
		dify: knowledgetest.NewDify(t, difyKey, difySets),
	}
	cfg, err := knowledge.ParseConfig([]byte(knowledgeYAML(b.ext.URL, b.dify.URL)), func(name string) (string, bool) {
		if name == "TEST_EXT_KEY" {
			return extKey, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.kr, err = knowledge.New(cfg, knowledge.Options{Dial: allowLoopback(t)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.kr.Close)
	reg := run.NewRegistry()
	Register(reg, b.kr, models)
	b.eng = run.New(run.Config{}, reg)
	return b
}

// outcome is a finished test run and its events.
type outcome struct {
	info *run.RunInfo
	*runtest.Recorder
}

// run runs doc with inputs.
func (b *testBundle) run(t testing.TB, doc []byte, inputs map[string]any) *outcome {
	t.Helper()
	info, rec := runtest.Run(t, context.Background(), b.eng, runtest.Compile(t, b.eng, doc), run.Params{}, inputs, nil)
	return &outcome{info: info, Recorder: rec}
}

// kr returns the knowledge node's record.
func (o *outcome) kr(t testing.TB) *run.NodeRun {
	t.Helper()
	return o.Node(t, "kr")
}

// result returns the node's result output.
func (o *outcome) result(t testing.TB) []any {
	t.Helper()
	n := o.kr(t)
	if n.Status != run.StatusSucceeded {
		t.Fatalf("node %s: %s %s", n.Status, n.ErrorType, n.Error)
	}
	v, _ := n.Outputs.Get("result")
	r, ok := v.([]any)
	if !ok {
		t.Fatalf("result = %#v", v)
	}
	return r
}

// contents lists the content of each result item, with its score.
func contents(items []any) string {
	s := ""
	for _, it := range items {
		m := it.(map[string]any)
		md := m["metadata"].(map[string]any)
		s += fmt.Sprintf("%v@%v#%v ", m["content"], md["score"], md["position"])
	}
	return s
}

// doc builds start → knowledge-retrieval (data, id kr) → end (result) as
// JSON. Start declares q (text), author (text) and n (number).
func doc(data map[string]any) []byte {
	base := map[string]any{"type": TypeName, "title": "Knowledge", "query_variable_selector": []any{"start", "q"}}
	maps.Copy(base, data)
	start := sharedtest.Start(sharedtest.Input("q", "text-input"), sharedtest.Input("author", "text-input"), sharedtest.Input("n", "number"))
	return sharedtest.Chain("kr-test", start, sharedtest.Node{ID: "kr", Data: base}, sharedtest.End("kr", "result"))
}

// multiple is a multiple_retrieval_config.
func multiple(topK int, threshold any, rerank bool) map[string]any {
	return map[string]any{"top_k": topK, "score_threshold": threshold, "reranking_enable": rerank,
		"reranking_mode": "reranking_model", "reranking_model": map[string]any{"provider": "langgenius/cohere/cohere", "model": "rerank-english-v3.0"}}
}
