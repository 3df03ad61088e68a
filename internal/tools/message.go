package tools

import (
	"errors"
	"fmt"
)

// Kind is a tool message's type (Dify's ToolInvokeMessage.MessageType).
type Kind string

// Message kinds, and what the tool node makes of each (docs/tools.md).
const (
	// KindText is text for the node's text output; it streams.
	KindText Kind = "text"
	// KindJSON is a JSON object or array for the node's json output.
	KindJSON Kind = "json"
	// KindLink is a URL ("Link: <url>" in text), or a file when File is
	// set ("File: <url>" in text, and the file in files).
	KindLink Kind = "link"
	// KindImage is an image URL (Text); the image becomes a file.
	KindImage Kind = "image"
	// KindImageLink and KindBinaryLink are URLs (Text) of files the tool
	// stored; they become files.
	KindImageLink  Kind = "image_link"
	KindBinaryLink Kind = "binary_link"
	// KindBlob is file content (Blob, MIME, Name); it becomes a file.
	KindBlob Kind = "blob"
	// KindFile is a file mapping (File) for the files output.
	KindFile Kind = "file"
	// KindVariable sets an output variable (Variable, Value), or appends
	// a string piece to it and streams it when Stream is set.
	KindVariable Kind = "variable"
	// KindLog is an agent strategy's log entry (Log); tool nodes drop it.
	KindLog Kind = "log"
)

// Message is one message a tool emits while it runs.
type Message struct {
	Kind Kind
	// Text is the text of a text message, or the URL of a link or image
	// message.
	Text string
	// JSON is a json message's object (map[string]any) or array ([]any).
	JSON any
	// Suppress keeps a json message out of the text an agent's model
	// gets (Dify's suppress_output).
	Suppress bool
	// Blob, MIME and Name are a blob's content, media type and file
	// name; MIME may also be set on image and link messages.
	Blob []byte
	MIME string
	Name string
	// File is a Dify file mapping (as the variable pool holds files), for
	// file messages and links to files.
	File map[string]any
	// Variable, Value and Stream describe a variable message.
	Variable string
	Value    any
	Stream   bool
	// Log is a log message's entry.
	Log *Log
}

// Log is an agent log entry (Dify's ToolInvokeMessage.LogMessage); the
// agent node turns each into an agent_log event.
type Log struct {
	ID       string
	ParentID string
	Label    string
	// Status is "start", "success" or "error".
	Status   string
	Error    string
	Data     map[string]any
	Metadata map[string]any
}

// TextMessage returns a text message.
func TextMessage(s string) Message { return Message{Kind: KindText, Text: s} }

// JSONMessage returns a json message for an object or an array.
func JSONMessage(v any) Message { return Message{Kind: KindJSON, JSON: v} }

// LinkMessage returns a link message.
func LinkMessage(url string) Message { return Message{Kind: KindLink, Text: url} }

// BlobMessage returns a blob message.
func BlobMessage(data []byte, mime, name string) Message {
	return Message{Kind: KindBlob, Blob: data, MIME: mime, Name: name}
}

// FileMessage returns a file message for a Dify file mapping.
func FileMessage(f map[string]any) Message { return Message{Kind: KindFile, File: f} }

// VariableMessage returns a message setting output variable name to v.
func VariableMessage(name string, v any) Message {
	return Message{Kind: KindVariable, Variable: name, Value: v}
}

// StreamMessage returns a message appending piece to output variable name
// and streaming it.
func StreamMessage(name, piece string) Message {
	return Message{Kind: KindVariable, Variable: name, Value: piece, Stream: true}
}

// reserved are the outputs a variable message may not set.
var reserved = map[string]bool{"json": true, "text": true, "files": true}

// Validate checks a message as Dify's ToolInvokeMessage model does, with
// Dify's messages: a variable may not be named json, text or files, a
// streamed variable's value must be a string, a json message holds an
// object or an array.
func (m *Message) Validate() error {
	switch m.Kind {
	case KindText, KindLink, KindImage, KindImageLink, KindBinaryLink, KindBlob:
	case KindJSON:
		switch m.JSON.(type) {
		case map[string]any, []any:
		default:
			return fmt.Errorf("json message holds %T, not an object or an array", m.JSON)
		}
	case KindFile:
		if m.File == nil {
			return errors.New("File message is missing 'file' key in meta") //nolint:staticcheck // Dify's text
		}
	case KindVariable:
		if reserved[m.Variable] {
			return fmt.Errorf("The variable name '%s' is reserved.", m.Variable) //nolint:staticcheck // Dify's text
		}
		if _, ok := m.Value.(string); m.Stream && !ok {
			return errors.New("When 'stream' is True, 'variable_value' must be a string.") //nolint:staticcheck // Dify's text
		}
	case KindLog:
		if m.Log == nil {
			return errors.New("log message without a log entry")
		}
	default:
		return fmt.Errorf("unknown tool message type %q", m.Kind)
	}
	return nil
}
