package llm

import (
	"sync"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/tiktoken-go/tokenizer/codec"
)

// Token counting decides how much conversation memory fits a model's
// context. Dify asks the model's plugin only when
// PLUGIN_BASED_TOKEN_COUNTING_ENABLED is set (default false: every prompt
// counts 0 tokens, so memory is never cut); Config.CountTokens is that
// switch. When on, prompts are counted as Dify's OpenAI-compatible plugin
// counts them (OAICompatLargeLanguageModel._num_tokens_from_messages): 3
// tokens per message plus its role and content in the GPT-2 encoding, and
// 3 for the reply's priming.

// gpt2 is the GPT-2 byte-pair encoding (tiktoken's "gpt2", the same ranks
// as r50k_base), built on first use: the vocabulary takes about 10 ms and
// a few MB to load, which services that never count should not pay.
var gpt2 = sync.OnceValue(codec.NewR50kBase)

// gpt2Tokens is Dify's _get_num_tokens_by_gpt2. Special tokens such as
// <|endoftext|> count as ordinary text (tiktoken would refuse them).
func gpt2Tokens(s string) int {
	if s == "" {
		return 0
	}
	n, err := gpt2().Count(s)
	if err != nil {
		// Only the strict UTF-8 mode, which is not used, fails.
		return len(s)
	}
	return n
}

// tokens counts prompt messages for the memory budget: 0 when counting is
// off, as in Dify by default.
func (c *Config) tokens(msgs []openai.Message) int {
	if !c.CountTokens {
		return 0
	}
	n := 3 // every reply is primed with <im_start>assistant
	for _, m := range msgs {
		n += messageTokens(m)
	}
	return n
}

// messageTokens is one message's share of Config.tokens.
func messageTokens(m openai.Message) int {
	return 3 + gpt2Tokens(m.Role) + gpt2Tokens(m.Content)
}
