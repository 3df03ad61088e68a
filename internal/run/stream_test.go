package run

import (
	"context"
	"strings"
	"testing"
)

// streamKit registers test-stream, a node that streams its "text" output in
// pieces through Exec.Stream before returning it whole.
func streamKit() *Registry {
	reg := NewRegistry()
	reg.Register(NodeType{Name: "test-stream", Build: func(b *Build) (Executor, error) {
		var c struct {
			Pieces []string `json:"pieces"`
		}
		if err := b.Decode(&c); err != nil {
			return nil, err
		}
		return ExecutorFunc(func(_ context.Context, x *Exec) (*Result, error) {
			for _, p := range c.Pieces {
				x.Stream("text", p)
			}
			return &Result{Outputs: Vars{{"text", strings.Join(c.Pieces, "")}}}, nil
		}), nil
	}})
	return reg
}

func chunkTrace(rec *recorder) []string {
	var out []string
	for _, e := range rec.all() {
		switch {
		case e.Chunk != nil:
			out = append(out, "chunk "+e.Chunk.Selector.String()+" "+e.Chunk.Text)
		case e.Node != nil && e.Type != EventNodeStarted:
			out = append(out, string(e.Type)+" "+e.Node.NodeID)
		}
	}
	return out
}

func TestStreamedFirstOutputIsNotSentTwice(t *testing.T) {
	t.Parallel()
	e := New(Config{}, streamKit())
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, `llm:test-stream:{pieces: [Hel, lo]}`, `end:end:{outputs: [{variable: a, value_selector: [llm, text]}]}`},
		[]string{"start->llm", "llm->end"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	equalLines(t, chunkTrace(rec), []string{
		"node_finished start",
		"chunk llm.text Hel",
		"chunk llm.text lo",
		"node_finished llm",
		"node_finished end",
	})
	if got := mustJSON(t, info.Outputs); got != `{"a":"Hello"}` {
		t.Fatalf("outputs %s", got)
	}
}

func TestStreamOnlyThroughTheFirstSegmentOfAResponse(t *testing.T) {
	t.Parallel()
	e := New(Config{}, streamKit())
	// The End starts with the query: the LLM's tokens would come before
	// it, so they are not streamed live; the End sends everything in order.
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, `llm:test-stream:{pieces: [a, b]}`, `other:test-stream:{pieces: [x]}`,
			`end:end:{outputs: [{variable: q, value_selector: [start, q]}, {variable: t, value_selector: [llm, text]}]}`},
		[]string{"start->llm", "llm->other", "other->end"}))
	_, rec := runWith(t, context.Background(), e, wf, map[string]any{"q": "Q"})
	equalLines(t, chunkTrace(rec), []string{
		"node_finished start",
		"node_finished llm",
		"node_finished other", // referenced by no response node: never shown
		"chunk start.q Q",
		"chunk end.answer \n",
		"chunk llm.text ab",
		"node_finished end",
	})
}

func TestAnswerSkipsItsStreamedFirstSegment(t *testing.T) {
	t.Parallel()
	e := New(Config{}, streamKit())
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, `llm:test-stream:{pieces: [a, b]}`, `ans:answer:{answer: "{{#llm.text#}} and {{#llm.text#}}"}`},
		[]string{"start->llm", "llm->ans"}))
	_, rec := runWith(t, context.Background(), e, wf, nil)
	equalLines(t, chunkTrace(rec), []string{
		"node_finished start",
		"chunk llm.text a",
		"chunk llm.text b",
		"node_finished llm",
		"chunk ans.answer  and ",
		"chunk llm.text ab",
		"node_finished ans",
	})
}
