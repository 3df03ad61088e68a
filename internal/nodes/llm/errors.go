package llm

import (
	"errors"
	"fmt"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// fail returns a node failure whose error_type is typ, the name of the
// Python exception Dify reports for the same failure.
func fail(typ, format string, args ...any) error {
	return &run.NodeError{Type: typ, Err: fmt.Errorf(format, args...)}
}

// invokeError maps a failed model call to Dify's model runtime errors
// (core/model_runtime/errors/invoke.py), with the descriptions Dify's
// plugins give them: "[openai] Rate Limit Error, Error code: 429 - ...".
// Context errors pass through unchanged so that the engine can tell a
// stopped or timed-out run from a failed node.
func invokeError(m *model, err error) error {
	var api *openai.APIError
	switch {
	case errors.As(err, &api):
		switch {
		case api.Status == 401 || api.Status == 403:
			return &run.NodeError{Type: "InvokeAuthorizationError", Err: fmt.Errorf("[%s] Incorrect model credentials provided, please check and try again. ", m.provider)}
		case api.Status == 429:
			return &run.NodeError{Type: "InvokeRateLimitError", Err: fmt.Errorf("[%s] Rate Limit Error, %w", m.provider, err)}
		case api.Status >= 500:
			return &run.NodeError{Type: "InvokeServerUnavailableError", Err: fmt.Errorf("[%s] Server Unavailable Error, %w", m.provider, err)}
		default:
			return &run.NodeError{Type: "InvokeBadRequestError", Err: fmt.Errorf("[%s] Bad Request Error, %w", m.provider, err)}
		}
	case errors.Is(err, openai.ErrConnection):
		return &run.NodeError{Type: "InvokeConnectionError", Err: fmt.Errorf("[%s] Connection Error, %w", m.provider, err)}
	case errors.Is(err, openai.ErrBadResponse):
		return &run.NodeError{Type: "InvokeError", Err: fmt.Errorf("[%s] Error: %w", m.provider, err)}
	}
	return err
}
