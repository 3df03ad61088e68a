package llm

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// Conversation memory, as Dify 1.12 builds it (core/memory/
// token_buffer_memory.py and the nodes that call it). A node whose DSL has
// a memory block reads the earlier turns of the conversation in a
// chatflow turn (run.Exec.History); in a workflow app, where Dify finds no
// conversation, it has none.
//
// Which turns: TokenBufferMemory fetches the newest message_limit message
// rows of the conversation — the window size when positive (at most 500),
// else 500 — and then drops the newest row, the turn being answered, whose
// answer is still empty. So a window of N shows the N-1 turns before this
// one. Each turn gives a user message (its query) and an assistant message
// (its answer; empty when the turn failed). Files attached to earlier
// turns are not sent: run.Message holds text only.
//
// How many tokens: the messages are counted (Config.tokens) and the
// oldest dropped, one message at a time, while they exceed what the
// model's context leaves (modelNode.restTokens), keeping at least one.

// memoryConfig is Dify's MemoryConfig. Memory is on when the DSL has the
// key (the editor removes it when memory is switched off).
type memoryConfig struct {
	Window struct {
		Enabled bool    `json:"enabled"`
		Size    flexInt `json:"size"`
	} `json:"window"`
	// RolePrefix names the speakers when a completion model's prompt
	// holds the history as text; such a model requires it.
	RolePrefix *struct {
		User      string `json:"user"`
		Assistant string `json:"assistant"`
	} `json:"role_prefix"`
	// QueryPromptTemplate is the llm node's last user message (chat
	// models); empty: sys.query.
	QueryPromptTemplate string `json:"query_prompt_template"`
}

// limit is the message_limit the node passes to TokenBufferMemory: the
// llm node passes the window size only when the window is enabled;
// question-classifier and parameter-extractor (windowAlways) pass it
// whether or not.
func (m *memoryConfig) limit(windowAlways bool) int {
	size := int(m.Window.Size)
	if (!m.Window.Enabled && !windowAlways) || size <= 0 {
		return run.HistoryUnbounded
	}
	return min(size, run.HistoryUnbounded)
}

// need declares to b how many earlier turns the node reads: one less than
// its limit, the turn being answered taking the last row.
func (m *memoryConfig) need(b *run.Build, windowAlways bool) {
	b.NeedHistory(m.limit(windowAlways) - 1)
}

// memoryMessages is TokenBufferMemory.get_history_prompt_messages: the
// turns within limit, oldest first, as user and assistant messages, cut
// to budget tokens.
func (c *Config) memoryMessages(history []run.Message, limit, budget int) []openai.Message {
	return c.turnMessages(history[max(len(history)-(limit-1), 0):], budget)
}

// turnMessages renders turns as user and assistant messages and drops the
// oldest, one message at a time, while they exceed budget tokens (at
// least one stays).
func (c *Config) turnMessages(turns []run.Message, budget int) []openai.Message {
	msgs := make([]openai.Message, 0, 2*len(turns))
	for _, t := range turns {
		msgs = append(msgs, openai.Message{Role: "user", Content: t.Query}, openai.Message{Role: "assistant", Content: t.Answer})
	}
	if !c.CountTokens || len(msgs) == 0 {
		return msgs
	}
	// The count is a sum over messages, so dropping one subtracts its
	// share: the same result as Dify's recount after each drop.
	total := c.tokens(msgs)
	for total > budget && len(msgs) > 1 {
		total -= messageTokens(msgs[0])
		msgs = msgs[1:]
	}
	return msgs
}

// memoryText is TokenBufferMemory.get_history_prompt_text: the messages
// of memoryMessages as "<prefix>: <content>" lines.
func (c *Config) memoryText(history []run.Message, limit, budget int, user, assistant string) string {
	return historyLines(c.memoryMessages(history, limit, budget), user, assistant)
}

// historyLines renders msgs as "<prefix>: <content>" lines.
func historyLines(msgs []openai.Message, user, assistant string) string {
	lines := make([]string, len(msgs))
	for i, m := range msgs {
		prefix := user
		if m.Role == "assistant" {
			prefix = assistant
		}
		lines[i] = prefix + ": " + m.Content
	}
	return strings.Join(lines, "\n")
}

// restTokens is Dify's _calculate_rest_token: the tokens the model's
// context leaves for memory after the completion's max_tokens and the
// prompt's own used tokens, at least 0; 2000 when the model declares no
// context size.
func (m *modelNode) restTokens(used int) int {
	size := m.model.contextSize
	if size <= 0 {
		return 2000
	}
	return max(size-maxTokens(m.mc.CompletionParams)-used, 0)
}

// maxTokens is the completion_params value of the model's max_tokens
// parameter (max_completion_tokens for models that name it so), 0 when
// not set.
func maxTokens(cp map[string]any) int {
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		var f float64
		switch v := cp[k].(type) {
		case json.Number:
			f, _ = v.Float64()
		case float64:
			f = v
		case int64:
			f = float64(v)
		case int:
			f = float64(v)
		}
		if f != 0 {
			return int(f)
		}
	}
	return 0
}

// flexInt accepts what pydantic accepts for an optional int: a number
// without fraction, a string holding one, or null (0).
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var x float64
	switch t := v.(type) {
	case nil:
		*f = 0
		return nil
	case float64:
		x = t
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer, got %s", b)
		}
		x = float64(n)
	default:
		return fmt.Errorf("want an integer, got %s", b)
	}
	if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
		return fmt.Errorf("want an integer, got %s", b)
	}
	*f = flexInt(x)
	return nil
}
