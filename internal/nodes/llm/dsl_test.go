package llm

import (
	"os"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

const dslDir = "../../run/testdata/dsl/"

func loadDSL(t *testing.T, e *run.Engine, name string) *run.Workflow {
	t.Helper()
	data, err := os.ReadFile(dslDir + name)
	if err != nil {
		t.Fatal(err)
	}
	return runtest.Compile(t, e, string(data))
}

// answer replies to classifier prompts with the first of ids their
// classification message offers, and to anything else with text.
func answer(text string, ids ...string) func(int, *received) reply {
	return func(_ int, r *received) reply {
		msgs := r.Req.Messages
		if last := msgs[len(msgs)-1].Content; len(msgs) >= 2 && strings.Contains(last, `"category_id": `) {
			for _, id := range ids {
				if strings.Contains(last, `"`+id+`"`) {
					return reply{Chunks: []string{"```json\n", `{"keywords": [], "category_id": "` + id + `", "category_name": "x"}`, "\n```"}}
				}
			}
		}
		return reply{Chunks: strings.SplitAfter(text, " ")}
	}
}

func TestDifyDSLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file   string
		inputs map[string]any
		ids    []string
		// calls is the number of model calls; outputs the run's outputs.
		calls   int
		outputs string
	}{
		{"dify-fixtures/basic_llm_chat_workflow.yml", map[string]any{"query": "hello"}, nil, 1, `{"answer":"The answer is 42."}`},
		{"community/SEO_Slug_Generator.yml", map[string]any{"title": "How to bake bread at home"}, nil, 1, `{"output":"The answer is 42."}`},
		{"community/translation_workflow.yml", map[string]any{"target_lang": "French", "source_text": "Good morning", "source_lang": "English"}, nil, 3, `{"output":"The answer is 42."}`},
		{"community/translation_workflow.yml", map[string]any{"target_lang": "French", "source_text": "Good morning", "source_lang": "English", "country": "Canada"}, nil, 3, `{"output":"The answer is 42."}`},
		{"dify-templates/Sentiment_Analysis.yml", map[string]any{"input_text": "Great pizza, slow service", "Multisentiment": "True", "Categories": "food, service"}, nil, 1, `{"text":"The answer is 42."}`},
		{"dify-templates/Sentiment_Analysis.yml", map[string]any{"input_text": "Great pizza", "Multisentiment": "False"}, nil, 1, `{"text":"The answer is 42."}`},
		{"dify-templates/Email_Assistant_Workflow.yml", map[string]any{"Input_Text": "Dear team, ...", "user_request": "Summarize"}, []string{"1711512811520"}, 2, `{"text":"The answer is 42."}`},
		{"dify-templates/Email_Assistant_Workflow.yml", map[string]any{"Input_Text": "Dear team, ...", "user_request": "Improve writings ", "how_polish": "Shorten"}, []string{"1711512813038", "1711512847112"}, 3, `{"text":"The answer is 42."}`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t, answer("The answer is 42.", tc.ids...))
			e := engine(t, fake.config())
			wf := loadDSL(t, e, tc.file)
			info, ev := runtest.Run(t, t.Context(), e, wf, run.Params{}, tc.inputs, nil)
			wantStatus(t, info, run.StatusSucceeded)
			if got := sharedtest.JSON(t, info.Outputs); got != tc.outputs {
				t.Fatalf("outputs %s, want %s", got, tc.outputs)
			}
			if n := len(fake.requests()); n != tc.calls {
				t.Fatalf("%d model calls, want %d", n, tc.calls)
			}
			// Only the LLM the End node starts with reaches the client,
			// token by token, and only once.
			if got := ev.Text(); got != "The answer is 42." {
				t.Fatalf("streamed text %q", got)
			}
			if info.TotalTokens == 0 {
				t.Fatal("no tokens counted")
			}
		})
	}
}

func TestEmailAssistantRoutesThroughBothClassifiers(t *testing.T) {
	t.Parallel()
	fake := newFake(t, answer("Short.", "1711512813038", "1711512847112"))
	e := engine(t, fake.config())
	wf := loadDSL(t, e, "dify-templates/Email_Assistant_Workflow.yml")
	info, ev := runtest.Run(t, t.Context(), e, wf, run.Params{}, map[string]any{"Input_Text": "Hello", "user_request": "Improve writings ", "how_polish": "Shorten"}, nil)
	wantStatus(t, info, run.StatusSucceeded)
	ran := map[string]bool{}
	for _, e := range ev.All() {
		if e.Type == run.EventNodeFinished {
			ran[e.Node.NodeID] = true
		}
	}
	for _, id := range []string{"1711512802873", "1711512837494", "1711512926020", "1711513022516", "1711513036356"} {
		if !ran[id] {
			t.Errorf("%s did not run", id)
		}
	}
	if len(ran) != 6 {
		t.Errorf("%d nodes ran: %v", len(ran), ran)
	}
	if get(t, ev.Node(t, "1711512837494").Outputs, "class_name") != "Shorten " {
		t.Errorf("second classifier %v", ev.Node(t, "1711512837494").Outputs)
	}
}
