package tools

import (
	"context"
	"strings"

	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// Provider is a source of tools: a native built-in, an MCP server, an
// OpenAPI document, a workflow. It must be safe for concurrent use.
type Provider interface {
	// Tools lists the provider's tools. Callers may call it on every
	// invocation: a provider that lists its tools remotely caches them.
	Tools(ctx context.Context) ([]Tool, error)
	// Invoke runs one tool, passing each message it produces to emit as
	// it comes (emit's error aborts the call and is returned). Its
	// arguments are already cast to the declared types (Tool.Cast).
	// Invoke must return when ctx is done.
	Invoke(ctx context.Context, call *Call, emit Emit) error
}

// Emit receives the messages of one invocation, in order.
type Emit func(Message) error

// Call is one invocation of a tool.
type Call struct {
	// Tool is the tool's name.
	Tool string
	// Args are the parameters by name: the node's tool_parameters and
	// tool_configurations, or a model's arguments. Values are those of
	// the variable pool: nil, bool, int64, float64, string, []any,
	// map[string]any, and files as Dify file mappings.
	Args map[string]any
	// User is the end user's id (sys.user_id).
	User string
	// AppID and ConversationID identify the calling app and chat.
	AppID          string
	ConversationID string
	// Depth is the workflow call depth of the caller: 0 for a run
	// started by the API, one more for each workflow called as a tool.
	Depth int
}

// Collect invokes call and returns its messages.
func Collect(ctx context.Context, p Provider, call *Call) ([]Message, error) {
	var out []Message
	err := p.Invoke(ctx, call, func(m Message) error {
		out = append(out, m)
		return nil
	})
	return out, err
}

// Text renders messages as the text an agent gives its model for a tool
// call, as Dify's ToolEngine does: text as it is, a link as "result link:
// <url>. please tell user to check it.", an image as a note that the user
// has it, json messages (unless suppressed) as JSON after the rest,
// skipping any equal to a text part. Other kinds add nothing.
func Text(msgs []Message) string {
	var parts, jsonParts []string
	for _, m := range msgs {
		switch m.Kind {
		case KindText:
			parts = append(parts, m.Text)
		case KindLink:
			parts = append(parts, "result link: "+m.Text+". please tell user to check it.")
		case KindImage, KindImageLink:
			parts = append(parts, "image has been created and sent to user already, you do not need to create it, just tell the user to check it now.")
		case KindJSON:
			if !m.Suppress {
				jsonParts = append(jsonParts, pyjson.Dumps(m.JSON, false))
			}
		}
	}
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		seen[p] = true
	}
	for _, p := range jsonParts {
		if !seen[p] {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "")
}
