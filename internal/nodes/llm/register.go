// Package llm implements Dify's model-backed workflow nodes — llm,
// parameter-extractor and question-classifier — on top of OpenAI-compatible
// chat completion servers (package openai).
//
// Each Dify model provider named in a DSL (model.provider) is mapped by
// Config to a server; see docs/nodes.md for the environment variables cmd/
// reads to fill Config. Prompts are assembled as Dify 1.12 assembles them.
//
// # Memory
//
// In a chatflow turn, a node with a memory block puts the conversation's
// earlier turns (run.Exec.History) into its prompt as Dify's
// TokenBufferMemory does: the turns within the window (which, as in Dify,
// counts the turn being answered), as chat messages (llm, chat models) or
// as prefixed text lines (llm completion models, and the histories slot of
// the classifier and extractor prompts), the oldest dropped while they
// exceed what the model's context leaves (Provider.ContextSize) when
// Config.CountTokens is set. Each node declares at build time how many
// turns it reads (run.Build.NeedHistory). Outside a chatflow there is no
// conversation, hence no memory. Details: memory.go and docs/nodes.md.
//
// # Streaming
//
// The llm node streams its answer with Exec.Stream under the selector
// [node_id, "text"] as tokens arrive. The engine's response coordinator
// relays each piece as a text_chunk when an End or Answer node's active
// session reaches that variable (wherever it sits in the template), and
// the response node then does not send the text again, as Dify's does.
//
// # Outside workflows
//
// Generator makes the two model calls Dify's chat API makes itself:
// questions suggested after an answer and a new conversation's name, with
// a configured model or the app's workflow model in place of Dify's
// workspace default model.
package llm

import (
	"github.com/flowrun/flowrun/internal/run"
)

// Register adds the llm (with retry_config support, as in Dify),
// parameter-extractor and question-classifier node types to r. It returns
// an error wrapping ErrInvalidConfig when cfg is inconsistent.
func Register(r *run.Registry, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	c := cfg.withDefaults()
	r.Register(run.NodeType{Name: "llm", Retry: true, Build: func(b *run.Build) (run.Executor, error) { return buildLLM(&c, b) }})
	r.Register(run.NodeType{Name: "parameter-extractor", Build: func(b *run.Build) (run.Executor, error) { return buildExtractor(&c, b) }})
	r.Register(run.NodeType{Name: "question-classifier", Build: func(b *run.Build) (run.Executor, error) { return buildClassifier(&c, b) }})
	return nil
}
