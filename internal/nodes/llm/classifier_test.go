package llm

import (
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// classifierDoc routes start -> qc into a branch per class; each branch
// has its own template and End node.
func classifierDoc() string {
	return sharedtest.Graph([]string{startNode,
		`{id: qc, data: {type: question-classifier, title: qc, model: {provider: openai, name: gpt-4o, mode: chat},
			query_variable_selector: [start, q], instruction: "Route {{#start.n#}}",
			classes: [{id: '1001', name: Billing}, {id: '1002', name: Tech}, {id: 1003, name: Other}]}}`,
		`{id: t1, data: {type: template-transform, title: t1, template: "billing: {{ c }}", variables: [{variable: c, value_selector: [qc, class_name]}]}}`,
		`{id: t2, data: {type: template-transform, title: t2, template: "tech: {{ c }}", variables: [{variable: c, value_selector: [qc, class_name]}]}}`,
		`{id: t3, data: {type: template-transform, title: t3, template: "other", variables: []}}`,
		`{id: e1, data: {type: end, title: e1, outputs: [{variable: out, value_selector: [t1, output]}]}}`,
		`{id: e2, data: {type: end, title: e2, outputs: [{variable: out, value_selector: [t2, output]}]}}`,
		`{id: e3, data: {type: end, title: e3, outputs: [{variable: out, value_selector: [t3, output]}]}}`,
	}, "start->qc", "qc->t1:1001", "qc->t2:1002", "qc->t3:1003", "t1->e1", "t2->e2", "t3->e3")
}

func TestClassifierRoutesToTheChosenClass(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("```json\n", `{"keywords": ["refund"], "category_id": "1002", "category_name": "Tech"}`, "\n```"))
	e := engine(t, fake.config())
	info, ev := runDoc(t, e, classifierDoc(), map[string]any{"q": "my app crashes", "n": 5})
	wantStatus(t, info, run.StatusSucceeded)
	if sharedtest.JSON(t, info.Outputs) != `{"out":"tech: Tech"}` {
		t.Fatalf("outputs %s", sharedtest.JSON(t, info.Outputs))
	}
	tr := strings.Join(trace(ev), "\n")
	for _, skipped := range []string{"t1", "t3", "e1", "e3"} {
		if strings.Contains(tr, "node_started "+skipped+" ") {
			t.Fatalf("%s ran:\n%s", skipped, tr)
		}
	}
	rec := ev.Node(t, "qc")
	if get(t, rec.Outputs, "class_name") != "Tech" || get(t, rec.Outputs, "class_id") != "1002" {
		t.Fatalf("outputs %v", rec.Outputs)
	}
	if u := get(t, rec.Outputs, "usage").(map[string]any); u["total_tokens"] != int64(10) || info.TotalTokens != 10 {
		t.Fatalf("usage %v, run tokens %d", u, info.TotalTokens)
	}
	// The classifier's own answer is not streamed to the client.
	if strings.Contains(ev.Text(), "category_id") {
		t.Fatalf("chunks %q", ev.Text())
	}
	msgs := fake.requests()[0].Req.Messages
	roles := []string{}
	for _, m := range msgs {
		roles = append(roles, m.Role)
	}
	sharedtest.EqualLines(t, roles, []string{"system", "user", "assistant", "user", "assistant", "user"})
	want := `{"input_text": ["my app crashes"],` + "\n" +
		`    "categories": [{"category_id": "1001", "category_name": "Billing"}, {"category_id": "1002", "category_name": "Tech"}, {"category_id": "1003", "category_name": "Other"}],` + "\n" +
		`    "classification_instructions": ["Route 5"]}`
	if !strings.Contains(msgs[5].Content, want) {
		t.Fatalf("classification message:\n%s", msgs[5].Content)
	}
}

func TestClassifierFallsBackToTheFirstClass(t *testing.T) {
	t.Parallel()
	for _, answer := range []string{
		`{"category_id": "9999", "category_name": "Nope"}`,
		`[{"category_id": "1002"}]`, // no category_name
		`{"category_id": 1002, "category_name": "Tech"}`,
	} {
		fake := newFake(t, say(answer))
		e := engine(t, fake.config())
		info, _ := runDoc(t, e, classifierDoc(), map[string]any{"q": "?"})
		wantStatus(t, info, run.StatusSucceeded)
		if sharedtest.JSON(t, info.Outputs) != `{"out":"billing: Billing"}` {
			t.Errorf("%s: outputs %s", answer, sharedtest.JSON(t, info.Outputs))
		}
	}
	fake := newFake(t, say(`{"category_id": "1003", "category_name": "x"}`))
	info, _ := runDoc(t, engine(t, fake.config()), classifierDoc(), map[string]any{"q": "?"})
	if sharedtest.JSON(t, info.Outputs) != `{"out":"other"}` {
		t.Errorf("numeric class id: outputs %s", sharedtest.JSON(t, info.Outputs))
	}
}

func TestClassifierAnswerWithoutJSONFails(t *testing.T) {
	t.Parallel()
	for answer, typ := range map[string]string{
		"It is about billing.": "ValueError",
		"{not json}":           "OutputParserError",
		`[{"a": 1}, {"b": 2}]`: "OutputParserError",
	} {
		fake := newFake(t, say(answer))
		info, ev := runDoc(t, engine(t, fake.config()), classifierDoc(), map[string]any{"q": "?"})
		wantStatus(t, info, run.StatusFailed)
		if rec := ev.Node(t, "qc"); rec.ErrorType != typ {
			t.Errorf("%q: %s: %s", answer, rec.ErrorType, rec.Error)
		}
	}
}
