package llm

import (
	"testing"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
)

func TestGPT2Tokens(t *testing.T) {
	t.Parallel()
	// GPT-2 token ids as tiktoken's "gpt2" encoding gives them.
	for s, want := range map[string]int{
		"":                           0,
		"Hello, world!":              4, // 15496 11 995 0
		"hello world":                2, // 31373 995
		"assistant":                  2, // 562 10167
		"Human: one\nAssistant: two": 7,
		"你好世界":                       8,
		"x <|endoftext|>":            8, // special tokens count as text
	} {
		if got := gpt2Tokens(s); got != want {
			t.Errorf("gpt2Tokens(%q) = %d, want %d", s, got, want)
		}
	}
	on, off := &Config{CountTokens: true}, &Config{}
	msgs := []openai.Message{{Role: "user", Content: "Hello"}, {Role: "assistant", Content: "hello world"}}
	if got := on.tokens(msgs); got != 3+(3+1+1)+(3+2+2) {
		t.Errorf("tokens = %d", got)
	}
	if got := on.tokens(nil); got != 3 {
		t.Errorf("tokens(nil) = %d", got)
	}
	if got := off.tokens(msgs); got != 0 {
		t.Errorf("tokens with counting off = %d", got)
	}
}
