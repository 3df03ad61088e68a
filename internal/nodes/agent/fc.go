package agent

import (
	"context"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// functionCalling runs the function_calling strategy: the model gets the
// tools as OpenAI tools; each round's tool calls run in parallel and
// their results go back as tool messages.
func (s *state) functionCalling(ctx context.Context) error {
	msgs := []openai.Message{{Role: "system", Content: s.p.instruction}}
	msgs = append(msgs, s.history...)
	msgs = append(msgs, openai.Message{Role: "user", Content: s.p.query})
	decl := s.tools.openaiTools()
	max := s.p.maxIterations
	for round := 1; round <= max; round++ {
		roundStart := s.log.now()
		rl := s.log.begin("ROUND "+strconv.Itoa(round), nil, map[string]any{metaStartedAt: roundStart})
		modelStart := s.log.now()
		ml := s.log.begin(s.model.Name()+" Thought", rl, map[string]any{metaStartedAt: modelStart, metaProvider: s.model.Provider()})
		pending, last := false, round == max
		comp, err := s.chat(ctx, &llm.Call{Messages: msgs, Tools: decl, Stop: nil,
			OnPiece: func(p string) {
				if !pending || last {
					s.say(p)
				}
			},
			OnToolCall: func() { pending = true }})
		if err != nil {
			return err
		}
		response := comp.Text
		calls := make([]call, 0, len(comp.ToolCalls))
		names := make([]string, 0, len(comp.ToolCalls))
		inputs := make([]any, 0, len(comp.ToolCalls))
		for _, tc := range comp.ToolCalls {
			args, err := parseArgs(tc.Function.Arguments)
			if err != nil {
				args = map[string]any{}
			}
			calls = append(calls, call{id: tc.ID, name: tc.Function.Name, args: args})
			names = append(names, tc.Function.Name)
			inputs = append(inputs, map[string]any{"name": tc.Function.Name, "args": args})
		}
		s.log.finish(ml, map[string]any{"output": response, "tool_name": strings.Join(names, ";"), "tool_input": inputs},
			s.callMeta(modelStart, comp, true))
		if len(calls) > 0 {
			tcs := make([]openai.ToolCall, len(calls))
			for i, c := range calls {
				tcs[i] = openai.ToolCall{ID: c.id, Type: "function", Function: openai.FunctionCall{Name: c.name, Arguments: pyjson.Dumps(c.args, false)}}
			}
			msgs = append(msgs, openai.Message{Role: "assistant", Content: response, ToolCalls: tcs})
		} else if strings.TrimSpace(response) != "" {
			msgs = append(msgs, openai.Message{Role: "assistant", Content: response})
		}
		responses := make([]any, 0, len(calls))
		var texts []string
		if len(calls) > 0 && last && max > 1 {
			for _, c := range calls {
				started := s.log.now()
				cl := s.log.begin("CALL "+c.name, rl, s.toolMeta(c.name, started, false))
				text := "Maximum iteration limit (" + strconv.Itoa(max) + ") reached. Cannot call tool '" + c.name + "'. Please consider increasing the iteration limit."
				out := map[string]any{"tool_call_id": c.id, "tool_call_name": c.name, "tool_response": text}
				s.log.finish(cl, map[string]any{"output": out}, s.toolMeta(c.name, started, true))
				responses = append(responses, out)
				texts = append(texts, text)
			}
		} else if len(calls) > 0 {
			started := s.log.now()
			results, err := s.tools.invokeAll(ctx, s.call, calls)
			if err != nil {
				return err
			}
			// Logged in call order once all have returned: the sequence
			// Dify's sequential calls produce.
			for i, c := range calls {
				r := results[i]
				cl := s.log.begin("CALL "+c.name, rl, s.toolMeta(c.name, started, false))
				out := map[string]any{"tool_call_id": c.id, "tool_call_name": c.name, "tool_call_input": r.args, "tool_response": r.observation}
				if !r.found {
					out = map[string]any{"tool_call_id": c.id, "tool_call_name": c.name, "tool_response": r.observation,
						"meta": map[string]any{"time_cost": 0.0, "error": r.observation, "tool_config": nil}}
				}
				s.log.finish(cl, map[string]any{"output": out}, s.toolMeta(c.name, started, true))
				s.keepFiles(r.msgs)
				responses = append(responses, out)
				texts = append(texts, r.observation)
				msgs = append(msgs, openai.Message{Role: "tool", Content: r.observation, ToolCallID: c.id})
			}
		}
		if len(calls) > 0 {
			s.say("\n")
		}
		meta := s.callMeta(roundStart, comp, false)
		s.log.finish(rl, map[string]any{"output": map[string]any{"llm_response": response, "tool_responses": responses}}, meta)
		if len(responses) > 0 && max == 1 {
			for _, t := range texts {
				s.say(t)
			}
		}
		if len(calls) == 0 {
			break
		}
	}
	return nil
}
