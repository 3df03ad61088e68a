package api

import (
	"github.com/flowrun/flowrun/internal/run"
)

// Chat stream frames, as Dify 1.12.1's advanced-chat pipeline writes them
// (generate_response_converter.py): every event opens with event,
// conversation_id, message_id and created_at (the message's creation
// time), then its model's fields. Text chunks are message events; the
// stream ends with workflow_finished and then message_end, or, when the
// run failed, with an error event "Run failed: …".

// frames writes one kind of stream: workflow (runMeta) or chat
// (chatMeta).
type frames interface {
	// event writes "data: <json>\n\n" for ev.
	event(e *enc, ev *run.Event)
	// fail writes the stream's error event.
	fail(e *enc, h httpErr)
	// finish writes what follows the run's last event.
	finish(e *enc, info *run.RunInfo)
}

// chatMeta is what every event of one chat turn shares.
type chatMeta struct {
	runMeta
	turn *chatTurn
}

// head opens a chat event.
func (m *chatMeta) head(e *enc, event string) {
	e.b = append(e.b, "data: "...)
	e.open()
	e.key("event")
	e.str(event)
	e.key("conversation_id")
	e.str(m.turn.conv.ID)
	e.key("message_id")
	e.str(m.turn.messageID)
	e.key("created_at")
	e.int(m.turn.createdAt.Unix())
}

func (m *chatMeta) end(e *enc) {
	e.close()
	e.b = append(e.b, '\n', '\n')
}

func (m *chatMeta) event(e *enc, ev *run.Event) {
	if ev.Type == run.EventTextChunk {
		m.head(e, "message")
		e.key("task_id")
		e.str(m.taskID)
		e.key("id")
		e.str(m.turn.messageID)
		e.key("answer")
		e.str(ev.Chunk.Text)
		e.key("from_variable_selector")
		e.strs(ev.Chunk.Selector)
		m.end(e)
		return
	}
	m.head(e, string(ev.Type))
	e.key("task_id")
	e.str(m.taskID)
	if ev.Type != run.EventAgentLog { // Dify's agent_log has no workflow_run_id
		e.key("workflow_run_id")
		e.str(m.runID)
	}
	e.key("data")
	m.data(e, ev)
	m.end(e)
}

func (m *chatMeta) fail(e *enc, h httpErr) {
	m.head(e, "error")
	e.key("code")
	e.str(h.Code)
	e.key("status")
	e.int(int64(h.Status))
	e.key("message")
	e.str(h.Message)
	m.end(e)
}

// finish writes message_end, or the error a failed run ends with.
func (m *chatMeta) finish(e *enc, info *run.RunInfo) {
	if info.Status == run.StatusFailed {
		h, _ := httpError(&ParamError{Message: "Run failed: " + info.Error})
		m.fail(e, h)
		return
	}
	m.head(e, "message_end")
	e.key("task_id")
	e.str(m.taskID)
	e.key("id")
	e.str(m.turn.messageID)
	e.key("metadata")
	m.turn.writeMetadata(e, true)
	e.key("files")
	e.emptyList()
	m.end(e)
}
