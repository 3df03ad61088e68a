package agent

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// reactPrompt is the agent plugin's ReAct system prompt (english, chat).
const reactPrompt = `Respond to the human as helpfully and accurately as possible.

{{instruction}}

You have access to the following tools:

{{tools}}

Use a json blob to specify a tool by providing an action key (tool name) and an action_input key (tool input).
Valid "action" values: {{tool_names}}

Provide only ONE action per $JSON_BLOB, as shown:

{
  "action": $TOOL_NAME,
  "action_input": $ACTION_INPUT
}

Follow this format:

Question: input question to answer
Thought: consider previous and subsequent steps
Action: $JSON_BLOB
Observation: action result
... (repeat Thought/Action/Observation N times)
Thought: I know what to respond
FinalAnswer: final response to human

Begin! Reminder to ALWAYS respond with a valid json blob of a single action. Use tools if necessary. Respond directly if appropriate. Format is Action: $JSON_BLOB then Observation:.
`

// unit is one round of the ReAct scratchpad.
type unit struct {
	response, thought, actionStr, observation string
	act                                       *action
}

func (u *unit) final() bool { return u.act != nil && strings.EqualFold(u.act.name, "final answer") }

// react runs the ReAct strategy: tools are described in the system
// prompt, the model answers with Thought/Action text that the parser
// reads, and each observation goes back in an assistant message.
func (s *state) react(ctx context.Context) error {
	stop := s.model.Stop()
	if !slices.Contains(stop, "Observation") {
		stop = append(stop, "Observation")
	}
	toolsJSON, names := s.tools.promptTools()
	system := strings.NewReplacer("{{instruction}}", s.p.instruction, "{{tools}}", toolsJSON,
		"{{tool_names}}", strings.Join(names, ", ")).Replace(reactPrompt)
	var pad []*unit
	final, streamed := "", false
	max := s.p.maxIterations
	for round := 1; round <= max; round++ {
		roundStart := s.log.now()
		rl := s.log.begin("ROUND "+strconv.Itoa(round), nil, map[string]any{metaStartedAt: roundStart})
		msgs := s.reactMessages(system, pad)
		modelStart := s.log.now()
		ml := s.log.begin(s.model.Name()+" Thought", rl, map[string]any{metaStartedAt: modelStart, metaProvider: s.model.Provider()})
		u := &unit{}
		parser := newReactParser(func(st reactState, text string, act *action) {
			if act != nil {
				o := pyjson.NewObject()
				o.Set("action_name", act.name)
				o.Set("action_input", act.input)
				u.actionStr = pyjson.Dumps(o, false)
				u.response += u.actionStr
				u.act = act
				return
			}
			u.response += text
			switch {
			case st == answering && u.act == nil:
				final += text
				s.say(text)
			case u.act == nil:
				u.thought += text
			}
		})
		comp, err := s.chat(ctx, &llm.Call{Messages: msgs, Stop: stop, OnPiece: parser.feed})
		if err != nil {
			return err
		}
		parser.close()
		u.thought = strings.TrimSpace(u.thought)
		pad = append(pad, u)
		logData := map[string]any{"thought": u.thought}
		if u.act != nil {
			logData["action"], logData["action_input"] = u.act.name, pyjson.Plain(u.act.input)
		} else {
			logData["action"] = u.response
		}
		s.log.finish(ml, logData, s.callMeta(modelStart, comp, true))
		more := false
		switch {
		case u.act == nil:
			if final != "" {
				streamed = true
			} else {
				final, streamed = u.thought, false
			}
		case u.final():
			if str, ok := u.act.input.(string); ok {
				final = str
			} else {
				final = pyjson.Dumps(u.act.input, false)
			}
		case round == max:
			started := s.log.now()
			cl := s.log.begin("CALL "+u.act.name, rl, s.toolMeta(u.act.name, started, false))
			msg := "Maximum iteration limit (" + strconv.Itoa(max) + ") reached. Cannot call tool '" + u.act.name + "'. Please consider increasing the iteration limit."
			u.observation, u.response, final = msg, msg, msg
			s.log.finish(cl, map[string]any{"tool_name": u.act.name, "tool_call_args": pyjson.Plain(u.act.input), "output": msg},
				s.toolMeta(u.act.name, started, true))
		default:
			more = true
			started := s.log.now()
			cl := s.log.begin("CALL "+u.act.name, rl, s.toolMeta(u.act.name, started, false))
			obs, args, err := s.reactInvoke(ctx, u.act)
			if err != nil {
				return err
			}
			u.observation, u.response = obs, obs
			s.log.finish(cl, map[string]any{"tool_name": u.act.name, "tool_call_args": args, "output": obs},
				s.toolMeta(u.act.name, started, true))
		}
		actName, actInput := "", any("")
		if u.act != nil {
			actName, actInput = u.act.name, pyjson.Plain(u.act.input)
		}
		s.log.finish(rl, map[string]any{"action_name": actName, "action_input": actInput, "thought": u.thought, "observation": u.observation},
			s.callMeta(roundStart, comp, false))
		if !more {
			break
		}
	}
	if !streamed && final != "" {
		s.say(final)
	}
	return nil
}

// reactInvoke calls the action's tool. String input that is not JSON goes
// to the tool's only model parameter, as in the plugin.
func (s *state) reactInvoke(ctx context.Context, a *action) (string, any, error) {
	args := map[string]any{}
	switch in := a.input.(type) {
	case *pyjson.Object:
		args, _ = pyjson.Plain(in).(map[string]any)
	case string:
		if v, err := pyjson.Loads(in); err == nil {
			if m, ok := pyjson.Plain(v).(map[string]any); ok {
				args = m
				break
			}
		}
		if t, ok := s.tools.byName[a.name]; ok {
			var llmParams []string
			for _, p := range t.tool.Params {
				if p.Form == "llm" {
					llmParams = append(llmParams, p.Name)
				}
			}
			if len(llmParams) > 1 {
				return "tool invoke error: tool call args is not a valid json string", in, nil
			}
			if len(llmParams) == 1 {
				args = map[string]any{llmParams[0]: in}
			}
		}
	}
	r, err := s.tools.invoke(ctx, s.call, a.name, args, true)
	if err != nil {
		return "", nil, err
	}
	s.keepFiles(r.msgs)
	return r.observation, r.args, nil
}

// reactMessages is the plugin's _organize_prompt_messages: system prompt,
// history, query, and after the first round the scratchpad as one
// assistant message followed by "continue".
func (s *state) reactMessages(system string, pad []*unit) []openai.Message {
	msgs := []openai.Message{{Role: "system", Content: system}}
	msgs = append(msgs, s.history...)
	msgs = append(msgs, openai.Message{Role: "user", Content: s.p.query})
	if len(pad) == 0 {
		return msgs
	}
	var b strings.Builder
	for _, u := range pad {
		if u.final() {
			b.WriteString("Final Answer: " + u.response)
			continue
		}
		b.WriteString("Thought: " + u.thought + "\n\n")
		if u.actionStr != "" {
			b.WriteString("Action: " + u.actionStr + "\n\n")
		}
		if u.observation != "" {
			b.WriteString("Observation: " + u.observation + "\n\n")
		}
	}
	return append(msgs, openai.Message{Role: "assistant", Content: b.String()}, openai.Message{Role: "user", Content: "continue"})
}
