// Package conformance holds only tests: every real Dify export under
// internal/run/testdata/dsl is loaded with the full node registry (as
// cmd/api wires it) and, when all of its node types are supported, run to
// completion with its LLM nodes pointed at a fake OpenAI-compatible server
// and its HTTP Request nodes at a local stub server.
package conformance
