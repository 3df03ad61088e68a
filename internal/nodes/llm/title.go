package llm

import (
	"context"
	"strings"

	"github.com/flowrun/flowrun/internal/run"
)

// Conversation names, as Dify 1.12 generates them
// (LLMGenerator.generate_conversation_name).

// titlePrompt asks for what Dify's CONVERSATION_TITLE_PROMPT asks — a
// short title, intention plus subject, in the language of the input, as a
// JSON object with the keys "Language Type", "Your Reasoning" and "Your
// Output" — in flowrun's own words. The query follows it.
const titlePrompt = `Write a short title for a chat that begins with the user input below: the user's intention plus its subject.

1. Find the language of the input (English, Chinese, Spanish, Arabic, Japanese, French, or any other).

2. Write the title
- Join the intention and the subject into one phrase, as short as it can be.
- Keep it natural and friendly, in the language of the input.
- When the input is a question to the assistant, you may end the title with an emoji.

3. Answer format
Answer with one JSON object only, with exactly these keys and nothing around it:
{
  "Language Type": "<the language of the input>",
  "Your Reasoning": "<a short explanation, in that language>",
  "Your Output": "<intention + subject>"
}

User Input:
`

// titleParams are the naming call's model parameters.
var titleParams = map[string]any{"max_tokens": 500, "temperature": 1}

// Name returns a name for a conversation whose first query is query: the
// model's "Your Output", trimmed. The query is sent on one line (newlines
// become spaces), and a query over 2000 characters as its first and last
// 300 around "...[TRUNCATED]...". An answer that is not a JSON object
// with a non-blank "Your Output" (read tolerantly, see parseTitle) gives
// that query; an empty answer gives "". The caller cuts long names, as
// Dify does to 75 characters.
//
// Name wraps ErrNoModel when no model is known for wf, and returns the
// error of a failed model call.
func (g *Generator) Name(ctx context.Context, wf *run.Workflow, query string) (string, error) {
	m, err := g.resolve(wf)
	if err != nil {
		return "", err
	}
	q := titleQuery(query)
	text, err := g.call(ctx, m, titlePrompt+q+"\n", titleParams)
	if err != nil || text == "" {
		return "", err
	}
	return parseTitle(text, q), nil
}

// titleQuery is the query as Dify sends it for naming: cut to its first
// and last 300 characters when over 2000, then on one line.
func titleQuery(query string) string {
	if r := []rune(query); len(r) > 2000 {
		query = string(r[:300]) + "...[TRUNCATED]..." + string(r[len(r)-300:])
	}
	return strings.ReplaceAll(query, "\n", " ")
}

// parseTitle reads "Your Output" from the model's answer, or returns
// query. Dify parses the answer as JSON and, failing that, with
// json_repair; flowrun's tolerant fallback drops <think> blocks, takes the
// first JSON value in the text and closes one the answer left open (as
// parseStructured does), which covers prose or code fences around the
// object and a cut-off answer, but not what json_repair also mends inside
// an object (single quotes, bare keys, trailing commas).
func parseTitle(text, query string) string {
	v, err := decodeJSON(text)
	if err != nil {
		v = nil
		s := thinkBlock.ReplaceAllString(text, "")
		if start := strings.IndexAny(s, "{["); start >= 0 {
			v, _ = decodeJSON(balanced(s[start:]))
		}
	}
	obj, _ := v.(map[string]any)
	if out, _ := obj["Your Output"].(string); strings.TrimSpace(out) != "" {
		return strings.TrimSpace(out)
	}
	return query
}
