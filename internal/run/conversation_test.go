package run

import (
	"context"
	"testing"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

const chatCounter = `app: {mode: advanced-chat, name: t}
workflow:
  conversation_variables:
  - {id: c1, name: n, value_type: number, value: 0, selector: [conversation, n]}
  - {id: c2, name: last, value_type: string, value: "", selector: [conversation, last]}
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - id: assign
      data:
        type: assigner
        title: Assign
        version: '2'
        items:
        - {variable_selector: [conversation, n], input_type: constant, operation: +=, value: 1}
        - {variable_selector: [conversation, last], input_type: variable, operation: over-write, value: [sys, query]}
    - {id: answer, data: {type: answer, title: Answer, answer: "{{#conversation.n#}} {{#sys.dialogue_count#}} {{#sys.conversation_id#}}"}}
    edges:
    - {id: e1, source: start, target: assign, sourceHandle: source}
    - {id: e2, source: assign, target: answer, sourceHandle: source}
`

func TestConversationTurn(t *testing.T) {
	t.Parallel()
	e := New(Config{Clock: fixedClock(), NewID: seqIDs()}, nil)
	wf := mustCompile(t, e, chatCounter)
	if !wf.Chat() || wf.HistoryLimit() != 0 {
		t.Fatalf("Chat() = %v, HistoryLimit() = %d; want true, 0", wf.Chat(), wf.HistoryLimit())
	}
	turn := func(conv *Conversation, query string) (*RunInfo, string) {
		rec := &recorder{}
		info := e.Run(context.Background(), wf, Params{RunID: "r", Query: query, Conversation: conv}, rec)
		if info.Status != StatusSucceeded {
			t.Fatalf("turn failed: %s", info.Error)
		}
		var text string
		for _, ev := range rec.All() {
			if ev.Type == EventTextChunk {
				text += ev.Chunk.Text
			}
		}
		return info, text
	}
	// No conversation yet: the declared values, turn 1.
	info, text := turn(nil, "hi")
	if text != "1 1 " {
		t.Fatalf("first turn answered %q, want %q", text, "1 1 ")
	}
	if got := sharedtest.JSON(t, info.ConversationVars); got != `{"n":1,"last":"hi"}` {
		t.Fatalf("ConversationVars = %s", got)
	}
	// The next turn starts from what the first left; sys.* follow the
	// conversation; workflow_started shows no conversation id.
	vars := map[string]any{}
	for _, v := range info.ConversationVars {
		vars[v.Name] = v.Value
	}
	info, text = turn(&Conversation{ID: "c-1", Turn: 2, Vars: vars}, "again")
	if text != "2 2 c-1" {
		t.Fatalf("second turn answered %q, want %q", text, "2 2 c-1")
	}
	if got := sharedtest.JSON(t, info.ConversationVars); got != `{"n":2,"last":"again"}` {
		t.Fatalf("ConversationVars = %s", got)
	}
	if got := sharedtest.JSON(t, info.Inputs); got != `{"sys.files":[],"sys.user_id":"","sys.app_id":"","sys.workflow_id":"","sys.workflow_run_id":"r","sys.query":"again","sys.dialogue_count":2}` {
		t.Fatalf("inputs = %s", got)
	}
	// The caller's map is not modified by the run.
	if vars["n"] != int64(1) {
		t.Fatalf("the run changed the caller's values: %v", vars)
	}
}
