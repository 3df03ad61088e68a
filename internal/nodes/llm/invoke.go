package llm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// errCallTimeout is the cause when Config.Timeout ends a model call.
var errCallTimeout = errors.New("model call timed out")

// completion is a finished model call.
type completion struct {
	// text is the answer as Dify's plugins deliver it: reasoning that the
	// server streamed separately is wrapped in <think>...</think> ahead of
	// the content.
	text      string
	res       *openai.Result
	usage     map[string]any
	counts    openai.Usage
	tokens    int64
	finish    any // finish_reason, nil when the server gave none
	startedAt time.Time
}

// invoke calls the model. With stream set, onPiece receives each piece of
// the answer text as it arrives.
func (c *Config) invoke(ctx context.Context, m *model, req *openai.ChatRequest, onPiece func(string)) (*completion, error) {
	return c.invokeStream(ctx, m, req, onPiece, nil)
}

// invokeStream is invoke that also calls onToolCall (when not nil) for
// each streamed chunk carrying a piece of a tool call.
func (c *Config) invokeStream(ctx context.Context, m *model, req *openai.ChatRequest, onPiece func(string), onToolCall func()) (*completion, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.Timeout, fmt.Errorf("%w after %s", errCallTimeout, c.Timeout))
		defer cancel()
	}
	req.Model = m.upstream
	start := time.Now()
	var (
		text       strings.Builder
		reasoning  bool
		firstPiece time.Time
	)
	emit := func(piece string) {
		if piece == "" {
			return
		}
		if firstPiece.IsZero() {
			firstPiece = time.Now()
		}
		text.WriteString(piece)
		if onPiece != nil {
			onPiece(piece)
		}
	}
	res, err := m.client.Chat(ctx, req, func(d openai.Delta) {
		if d.ToolCall && onToolCall != nil {
			onToolCall()
		}
		if d.Content == "" && d.Reasoning == "" {
			return
		}
		// As the Dify plugin SDK does (_wrap_thinking_by_reasoning_content):
		// separately streamed reasoning becomes a <think> block.
		switch {
		case d.Reasoning != "" && !reasoning:
			reasoning = true
			emit("<think>\n" + d.Reasoning + d.Content)
		case d.Reasoning != "":
			emit(d.Reasoning + d.Content)
		case reasoning:
			reasoning = false
			emit("\n</think>" + d.Content)
		default:
			emit(d.Content)
		}
	})
	if err != nil {
		if errors.Is(err, errCallTimeout) {
			err = &openai.ConnectionError{Err: err}
		}
		return nil, invokeError(m, err)
	}
	if !req.Stream {
		if res.Reasoning != "" {
			emit("<think>\n" + res.Reasoning + "\n</think>")
		}
		emit(res.Content)
	}
	end := time.Now()
	out := &completion{text: text.String(), res: res, startedAt: start}
	var u openai.Usage
	if res.Usage != nil {
		u = *res.Usage
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	out.tokens = u.TotalTokens
	out.counts = u
	out.usage = usageMap(u, start, firstPiece, end)
	if res.FinishReason != "" {
		out.finish = res.FinishReason
	}
	return out, nil
}

// usageMap renders a model call's usage as Dify's LLMUsage, with the
// times to the first piece and from it to the end.
func usageMap(u openai.Usage, start, first, end time.Time) map[string]any {
	m := UsageMap(u, seconds(end.Sub(start)))
	if !first.IsZero() {
		m["time_to_first_token"] = seconds(first.Sub(start))
		m["time_to_generate"] = seconds(end.Sub(first))
	}
	return m
}

// UsageMap renders token counts and a latency in seconds as Dify's
// jsonable_encoder(LLMUsage) does, with zero prices (flowrun keeps no
// price list).
func UsageMap(u openai.Usage, latency float64) map[string]any {
	return map[string]any{
		"prompt_tokens":         u.PromptTokens,
		"prompt_unit_price":     0.0,
		"prompt_price_unit":     0.0,
		"prompt_price":          0.0,
		"completion_tokens":     u.CompletionTokens,
		"completion_unit_price": 0.0,
		"completion_price_unit": 0.0,
		"completion_price":      0.0,
		"total_tokens":          u.TotalTokens,
		"total_price":           0.0,
		"currency":              "USD",
		"latency":               latency,
	}
}

// seconds rounds d to milliseconds, in seconds, as Dify's round(x, 3).
func seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}

// metadata is the node execution metadata Dify records for a model call.
func metadata(tokens int64) map[string]any {
	return map[string]any{"total_tokens": tokens, "total_price": 0.0, "currency": "USD"}
}

// savedPrompts renders messages as Dify's
// PromptMessageUtil.prompt_messages_to_prompt_for_saving does, for
// process_data.prompts.
func savedPrompts(chat bool, msgs []openai.Message) []any {
	if !chat {
		text := ""
		if len(msgs) > 0 {
			text = msgs[0].Content
		}
		return []any{map[string]any{"role": "user", "text": text}}
	}
	out := make([]any, 0, len(msgs))
	for _, m := range msgs {
		p := map[string]any{"role": m.Role, "text": m.Content, "files": []any{}}
		if len(m.ToolCalls) > 0 {
			calls := make([]any, len(m.ToolCalls))
			for i, tc := range m.ToolCalls {
				calls[i] = map[string]any{"id": tc.ID, "type": "function", "function": map[string]any{"name": tc.Function.Name, "arguments": tc.Function.Arguments}}
			}
			p["tool_calls"] = calls
		}
		out = append(out, p)
	}
	return out
}

// userID is the end user sent with model calls (Dify passes user=user_id).
func userID(p *run.Pool) string {
	v, _ := p.Get(run.Selector{"sys", "user_id"})
	s, _ := v.(string)
	return s
}
