package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/app/apptest"
)

// Dify's own chatflow fixtures through POST /chat-messages: the stream's
// events in the order Dify's graph engine tests expect
// (api/tests/unit_tests/core/workflow/graph_engine: test_basic_chatflow,
// test_loop_contains_answer, test_streaming_conversation_variables and
// the iteration-answer test), as chat frames, pinned whole in
// testdata/chat_<name>.sse; and the blocking answer, which is all the
// text streamed.
func TestChatDifyFixtures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file, query string
		order             []string
	}{
		{"basic_chatflow", "../internal/run/testdata/streaming/basic_chatflow.yml", "hi", []string{
			"workflow_started",
			"node_started 1755189262236", "node_finished 1755189262236",
			"node_started llm", "message mocked", "message  llm", "message  response", "node_finished llm",
			"node_started answer", "node_finished answer",
			"workflow_finished", "message_end",
		}},
		{"loop_contains_answer", "../internal/run/testdata/streaming/loop_contains_answer.yml", "1", []string{
			"workflow_started",
			"node_started 1755203854938", "node_finished 1755203854938",
			"loop_started 1755203872773",
			"node_started 1755203898151", "message 1", "message \n", "node_finished 1755203898151",
			"node_started 1755204039754", "node_finished 1755204039754",
			"loop_next",
			"node_started 1755203898151", "message 2", "message \n", "node_finished 1755203898151",
			"node_started 1755204039754", "node_finished 1755204039754",
			"loop_completed 1755203872773",
			"message 1", "message  + ", "message 2",
			"node_started 1755203915300", "node_finished 1755203915300",
			"workflow_finished", "message_end",
		}},
		{"streaming_conversation_variables", "../internal/run/testdata/streaming/test_streaming_conversation_variables.yml", "Hello, this is my test query", []string{
			"workflow_started",
			"node_started 1755316734941", "node_finished 1755316734941",
			"node_started 1755316749068", "message Hello, this is my test query", "node_finished 1755316749068",
			"node_started answer", "node_finished answer",
			"workflow_finished", "message_end",
		}},
		{"iteration_contains_answer", "../internal/run/testdata/dsl/dify-fixtures/iteration_contains_answer.yml", "hi", []string{
			"workflow_started",
			"node_started start_node", "node_finished start_node",
			"iteration_started iteration_node",
			"iteration_next", "message apple", "message \n",
			"node_started answer_in_iteration", "node_finished answer_in_iteration",
			"iteration_next", "message banana", "message \n",
			"node_started answer_in_iteration", "node_finished answer_in_iteration",
			"iteration_completed iteration_node",
			"message done",
			"node_started answer_final", "node_finished answer_final",
			"workflow_finished", "message_end",
		}},
	}
	var apps []apptest.App
	for i, c := range cases {
		apps = append(apps, apptest.App{
			ID: fmt.Sprintf("f1000000-0000-4000-8000-%012d", i), WF: fmt.Sprintf("f2000000-0000-4000-8000-%012d", i),
			Key: "app-fixture-" + c.name, File: c.file,
		})
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{deterministic: true, apps: apps})
			body := fmt.Sprintf(`{"query": %q, "inputs": {}, "user": "abc-123", "response_mode": "streaming"}`, c.query)
			rec := b.do(http.MethodPost, "/v1/chat-messages", apps[i].Key, body)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			var order []string
			var text strings.Builder
			for _, frame := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n\n") {
				var ev struct {
					Event  string `json:"event"`
					Answer string `json:"answer"`
					Data   struct {
						NodeID string `json:"node_id"`
					} `json:"data"`
				}
				if err := json.Unmarshal([]byte(strings.TrimPrefix(frame, "data: ")), &ev); err != nil {
					t.Fatalf("frame %q: %v", frame, err)
				}
				line := ev.Event
				switch {
				case ev.Event == "message":
					line += " " + ev.Answer
					text.WriteString(ev.Answer)
				case ev.Data.NodeID != "" && ev.Event != "iteration_next" && ev.Event != "loop_next":
					line += " " + ev.Data.NodeID
				}
				order = append(order, line)
			}
			if got, want := strings.Join(order, "\n"), strings.Join(c.order, "\n"); got != want {
				t.Fatalf("events\n%s\nwant (Dify's order)\n%s", got, want)
			}
			golden(t, "chat_"+c.name+".sse", elapsed.ReplaceAll(rec.Body.Bytes(), []byte(`"elapsed_time":0.0`)))

			rec = b.do(http.MethodPost, "/v1/chat-messages", apps[i].Key, strings.Replace(body, "streaming", "blocking", 1))
			var blocking struct {
				Answer string `json:"answer"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &blocking); err != nil || rec.Code != 200 || blocking.Answer != text.String() {
				t.Fatalf("blocking answer %q (%d %s), want the streamed %q", blocking.Answer, rec.Code, rec.Body, text.String())
			}
		})
	}
}

// elapsed matches measured durations, which golden files cannot pin.
var elapsed = regexp.MustCompile(`"elapsed_time":[0-9.e+-]+`)
