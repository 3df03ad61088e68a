package agent

import (
	"strings"

	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// The ReAct output parser, after the agent plugin's CotAgentOutputParser:
// the model's text is read one character at a time; "Thought:",
// "Action:" and "FinalAnswer:" prefixes (at the start or after a space or
// a newline, any case) switch state and are dropped; a JSON blob after
// "Action:" (or before any "Thought:") that names a tool is the action;
// <think> blocks are dropped.

// reactState is the parser's state: thinking or answering.
type reactState int

const (
	thinking reactState = iota
	answering
)

// action is a parsed ReAct action.
type action struct {
	name  string
	input any // *pyjson.Object, string, or another JSON value
}

// reactOut receives the parser's output: text in a state, or an action.
type reactOut func(state reactState, text string, act *action)

type prefixMatcher struct {
	prefix string
	// to is the state a full match switches to (-1: none).
	to    int
	cache string
	idx   int
}

type reactParser struct {
	out               reactOut
	state             reactState
	last              string
	action, answer    prefixMatcher
	thought           prefixMatcher
	sawThought        bool
	pendingActionJSON bool
	// JSON blob being read.
	inJSON, inString, escape bool
	stack                    []rune
	blob                     strings.Builder
	afterAction, promote     bool
	// think-tag stripping.
	inThink bool
	hold    string
}

func newReactParser(out reactOut) *reactParser {
	return &reactParser{out: out,
		action:  prefixMatcher{prefix: "action:", to: -1},
		answer:  prefixMatcher{prefix: "finalanswer:", to: int(answering)},
		thought: prefixMatcher{prefix: "thought:", to: int(thinking)},
	}
}

// step feeds one character to m. It reports whether the character was
// consumed, whether the character must be sent as is (a prefix character
// not at a word start), and whether the prefix matched in full.
func (p *reactParser) step(m *prefixMatcher, c string) (consumed, raw, full bool) {
	want := m.prefix[m.idx : m.idx+1]
	if strings.ToLower(c) == want {
		if m.idx == 0 && p.last != "" && p.last != "\n" && p.last != " " {
			return false, true, false
		}
		p.last = c
		m.cache += c
		m.idx++
		if m.idx == len(m.prefix) {
			m.cache, m.idx = "", 0
			if m.to >= 0 {
				p.state = reactState(m.to)
			}
			return true, false, true
		}
		return true, false, false
	}
	if m.cache != "" {
		p.last = c
		p.out(p.state, m.cache, nil)
		m.cache, m.idx = "", 0
	}
	return false, false, false
}

// feed reads a piece of the model's text.
func (p *reactParser) feed(s string) {
	for _, r := range p.stripThink(s) {
		p.char(string(r))
	}
}

// stripThink drops <think>...</think> blocks, holding back a tail that
// may be the start of a tag split across pieces.
func (p *reactParser) stripThink(s string) string {
	buf := p.hold + s
	p.hold = ""
	var out strings.Builder
	for buf != "" {
		if p.inThink {
			j := strings.Index(buf, "</think>")
			if j < 0 {
				p.hold = partialTag(buf, "</think>")
				return out.String()
			}
			p.inThink, buf = false, buf[j+len("</think>"):]
			continue
		}
		j := strings.Index(buf, "<think>")
		if j < 0 {
			h := partialTag(buf, "<think>")
			out.WriteString(buf[:len(buf)-len(h)])
			p.hold = h
			break
		}
		out.WriteString(buf[:j])
		p.inThink, buf = true, buf[j+len("<think>"):]
	}
	return out.String()
}

// partialTag is the longest suffix of s that begins tag.
func partialTag(s, tag string) string {
	for n := min(len(tag)-1, len(s)); n > 0; n-- {
		if strings.HasPrefix(tag, s[len(s)-n:]) {
			return s[len(s)-n:]
		}
	}
	return ""
}

func (p *reactParser) char(c string) {
	if !p.inJSON {
		consumed, raw, full := p.step(&p.action, c)
		if full {
			p.pendingActionJSON = true
		}
		if consumed {
			return
		}
		yield := raw
		consumed, raw, _ = p.step(&p.answer, c)
		if consumed {
			return
		}
		yield = yield || raw
		if p.state != answering {
			consumed, raw, full = p.step(&p.thought, c)
			if full {
				p.sawThought = true
			}
			if consumed {
				return
			}
			yield = yield || raw
		}
		if yield {
			p.last = c
			p.out(p.state, c, nil)
			return
		}
		if c == "{" || c == "[" {
			p.inJSON, p.inString, p.escape = true, false, false
			p.afterAction = p.pendingActionJSON
			p.promote = p.pendingActionJSON || !p.sawThought
			p.blob.Reset()
			p.blob.WriteString(c)
			p.stack = append(p.stack[:0], closer(c))
			p.last = c
			return
		}
		if p.pendingActionJSON && strings.TrimSpace(c) != "" {
			p.pendingActionJSON = false
		}
		p.last = c
		p.out(p.state, c, nil)
		return
	}
	p.last = c
	p.blob.WriteString(c)
	switch {
	case p.inString && p.escape:
		p.escape = false
	case p.inString && c == `\`:
		p.escape = true
	case p.inString && c == `"`:
		p.inString = false
	case p.inString:
	case c == `"`:
		p.inString = true
	case c == "{" || c == "[":
		p.stack = append(p.stack, closer(c))
	case len(p.stack) > 0 && rune(c[0]) == p.stack[len(p.stack)-1]:
		p.stack = p.stack[:len(p.stack)-1]
		if len(p.stack) == 0 {
			p.inJSON, p.pendingActionJSON = false, false
			p.emitBlob()
		}
	}
}

func closer(c string) rune {
	if c == "{" {
		return '}'
	}
	return ']'
}

// emitBlob sends a finished JSON blob as an action or as text.
func (p *reactParser) emitBlob() {
	blob := p.blob.String()
	p.blob.Reset()
	if p.state == thinking && (p.promote || p.afterAction) {
		if a := parseAction(blob, p.afterAction || !p.sawThought); a != nil {
			p.out(p.state, "", a)
			return
		}
	}
	p.out(p.state, blob, nil)
}

// close flushes what the parser holds at the end of the model's answer.
func (p *reactParser) close() {
	if p.inJSON {
		p.inJSON = false
		p.emitBlob()
	}
	for _, m := range []*prefixMatcher{&p.action, &p.answer, &p.thought} {
		if m.cache != "" {
			p.out(p.state, m.cache, nil)
			m.cache, m.idx = "", 0
		}
	}
	if p.hold != "" && !p.inThink {
		p.out(p.state, p.hold, nil)
		p.hold = ""
	}
}

// Keys that may name the tool and hold its input, in priority order.
var (
	nameKeys  = []string{"action", "tool", "tool_name", "name", "function"}
	inputKeys = []string{"action_input", "tool_input", "input", "arguments", "parameters", "args"}
)

// parseAction reads a JSON blob as an action ({"action": …,
// "action_input": …} and the variants the plugin accepts), or returns
// nil. lenient allows a bare "name" key without an input.
func parseAction(blob string, lenient bool) *action {
	v, err := pyjson.Loads(blob)
	if err != nil {
		return nil
	}
	if list, ok := v.([]any); ok {
		if len(list) != 1 {
			return nil
		}
		v = list[0]
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return nil
	}
	if obj.Len() == 1 {
		k := obj.Keys()[0]
		inner, _ := obj.Get(k)
		switch strings.ToLower(k) {
		case "tool_call", "tool_calling", "tool_calls", "function":
			if l, ok := inner.([]any); ok && len(l) == 1 {
				inner = l[0]
			}
			if o, ok := inner.(*pyjson.Object); ok {
				obj = o
			}
		}
	}
	lower := map[string]any{}
	for _, k := range obj.Keys() {
		val, _ := obj.Get(k)
		if _, seen := lower[strings.ToLower(k)]; !seen {
			lower[strings.ToLower(k)] = val
		}
	}
	name, nameKey := "", ""
	for _, k := range nameKeys {
		if s, ok := lower[k].(string); ok {
			name, nameKey = s, k
			break
		}
	}
	if name == "" {
		if fn, ok := lower["function"].(*pyjson.Object); ok {
			if n, ok := fn.Get("name"); ok {
				name, _ = n.(string)
				in, ok := fn.Get("arguments")
				if !ok {
					in = pyjson.NewObject()
				}
				return &action{name: strings.TrimSpace(name), input: in}
			}
		}
	}
	if strings.TrimSpace(name) == "" {
		return nil
	}
	var input any
	found := false
	for _, k := range inputKeys {
		if val, ok := lower[k]; ok {
			input, found = val, true
			break
		}
	}
	if !found {
		for _, k := range obj.Keys() {
			if strings.Contains(strings.ToLower(k), "input") {
				input, _ = obj.Get(k)
				found = true
				break
			}
		}
	}
	if nameKey == "name" && !found && !lenient {
		return nil
	}
	if input == nil {
		input = pyjson.NewObject()
	}
	return &action{name: strings.TrimSpace(name), input: input}
}
