package tools

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by registry failures.
var (
	// ErrProviderNotFound: no provider is configured under the id.
	ErrProviderNotFound = errors.New("tool provider not found")
	// ErrToolNotFound: the provider has no tool of that name.
	ErrToolNotFound = errors.New("tool not found")
	// ErrDuplicateProvider: two providers claim one id or alias.
	ErrDuplicateProvider = errors.New("duplicate tool provider id")
)

// Python exception classes Dify reports as a tool node's error_type.
const (
	// ErrTypeInvoke is ToolInvokeError: the tool failed. The tool node
	// reports "Failed to invoke tool <provider_name>: <message>".
	ErrTypeInvoke = "ToolInvokeError"
	// ErrTypeProviderNotFound is ToolProviderNotFoundError.
	ErrTypeProviderNotFound = "ToolProviderNotFoundError"
)

// Error is a tool failure that Dify reports with a specific exception
// class (Type). Errors of other types are reported with their text.
type Error struct {
	Type string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// InvokeErrorf returns a ToolInvokeError: how a tool reports that it
// failed (a bad argument, an unreachable service).
func InvokeErrorf(format string, args ...any) error {
	return &Error{Type: ErrTypeInvoke, Err: fmt.Errorf(format, args...)}
}

// TypeOf returns the exception class of err when it is an *Error.
func TypeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}
