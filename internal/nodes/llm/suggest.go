package llm

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"

	"github.com/flowrun/flowrun/internal/run"
)

// Suggested questions after an answer, as Dify 1.12 generates them
// (MessageService.get_suggested_questions_after_answer and
// LLMGenerator.generate_suggested_questions_after_answer).

// DefaultSuggestPrompt is the instruction of the suggestion prompt. It
// asks what Dify's SUGGESTED_QUESTIONS_AFTER_ANSWER_INSTRUCTION_PROMPT
// asks — three questions under 20 characters, in the language of the
// last answer, as a JSON array of strings — in flowrun's own words.
const DefaultSuggestPrompt = "Predict the three questions the human is most likely to ask next, " +
	"each one shorter than 20 characters.\n" +
	"Write them in the language of the Assistant's last reply. " +
	"Answer with a JSON array of strings and nothing else, like this:\n" +
	`["question1","question2","question3"]` + "\n"

const (
	// suggestTurns is the message_limit Dify reads the history with.
	suggestTurns = 3
	// suggestTokens is the max_token_limit of that history.
	suggestTokens = 3000
)

// Suggest returns the questions to offer after the last answer of a
// conversation; history holds its latest turns, oldest first (the last
// three are used). The prompt is one user message: the turns as
// "Human: …" / "Assistant: …" lines (at most 3000 tokens when
// Config.CountTokens is set), the instruction, then "questions:". The
// answer's first [...] is read as a JSON array and its strings returned;
// an answer without one gives none.
//
// Suggest returns nil, and no error, when no model is known for wf (see
// Generator); a failed model call returns its error (Dify then answers
// []).
func (g *Generator) Suggest(ctx context.Context, wf *run.Workflow, history []run.Message) ([]string, error) {
	m, err := g.resolve(wf)
	if errors.Is(err, ErrNoModel) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	text, err := g.call(ctx, m, g.suggestPrompt(history), map[string]any{"max_tokens": g.maxTokens, "temperature": g.temperature})
	if err != nil {
		return nil, err
	}
	return parseQuestions(text), nil
}

// suggestPrompt is Dify's "{{histories}}\n{{format_instructions}}\nquestions:\n"
// filled by its PromptTemplateParser.
func (g *Generator) suggestPrompt(history []run.Message) string {
	turns := history[max(len(history)-suggestTurns, 0):]
	// TokenBufferMemory drops the newest row while its answer is empty:
	// a turn still running, or one that failed.
	if n := len(turns); n > 0 && turns[n-1].Answer == "" {
		turns = turns[:n-1]
	}
	hist := historyLines(g.cfg.turnMessages(turns, suggestTokens), "Human", "Assistant")
	return dropSpecialTokens(keepVariables(hist) + "\n" + keepVariables(g.instruction) + "\nquestions:\n")
}

var (
	// templateVariable is PromptTemplateParser's variable pattern.
	templateVariable = regexp.MustCompile(`\{\{([a-zA-Z_][a-zA-Z0-9_]{0,29}|#histories#|#query#|#context#)\}\}`)
	// specialToken is what PromptTemplateParser.format removes from the
	// prompt it returns.
	specialToken = regexp.MustCompile(`<\|.*?\|>`)
)

// dropSpecialTokens is the last step of PromptTemplateParser.format:
// special tokens such as <|endoftext|> are removed from the whole prompt
// (within a line).
func dropSpecialTokens(s string) string {
	return specialToken.ReplaceAllString(s, "")
}

// keepVariables is PromptTemplateParser.remove_template_variables, applied
// to each value filled in: "{{name}}" becomes "{name}".
func keepVariables(s string) string {
	return templateVariable.ReplaceAllString(s, "{${1}}")
}

// firstArray is the output parser's pattern: from the first "[" to the
// first "]" after it.
var firstArray = regexp.MustCompile(`(?s)\[.*?\]`)

// parseQuestions is SuggestedQuestionsAfterAnswerOutputParser.parse: the
// strings of the first [...] in text, read as JSON; none when there is no
// such array or it is not valid JSON.
func parseQuestions(text string) []string {
	out := []string{}
	match := firstArray.FindString(text)
	if match == "" {
		return out
	}
	var list []any
	if err := json.Unmarshal([]byte(match), &list); err != nil {
		return out
	}
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
