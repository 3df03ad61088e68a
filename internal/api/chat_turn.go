package api

import (
	"bytes"
	"math"
	"strings"
	"time"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// chatTurn is one turn of a conversation. As a run.Listener placed before
// the recorder it collects what the run's events say about the turn's
// message (the answer streamed, the models' usage); at workflow_finished
// it builds the turn's chat records, which the recorder commits with the
// run's last records (record.Records.Recorder's final).
type chatTurn struct {
	app    *app.App
	user   string
	query  string
	inputs run.Vars
	files  []any
	// conv is what the run gets; newConv: the turn starts it.
	conv    *run.Conversation
	newConv bool
	// autoName asks for a generated name (first turn only).
	autoName bool
	// created is the new conversation's record, once written.
	created *repo.Conversation
	// vars are the conversation's stored variables by name (none for a
	// new conversation).
	vars      map[string]*repo.ConversationVariable
	messageID string
	runID     string
	createdAt time.Time
	clock     func() time.Time

	// Filled by OnEvent, which the engine serialises; read after the run.
	answer              strings.Builder
	firstText, lastText time.Time
	usage               usage
	info                *run.RunInfo
	// resources are the retriever resources of the turn's LLM nodes,
	// kept when the app shows them (showResources).
	resources     []map[string]any
	showResources bool
	// meta is metadata(), once built.
	meta []byte
}

// usage sums the models' token accounting over a run, as Dify's
// LLMUsage does.
type usage struct {
	prompt, completion, total int64
	latency                   float64
}

// OnEvent implements run.Listener.
func (t *chatTurn) OnEvent(e *run.Event) {
	switch e.Type {
	case run.EventTextChunk:
		t.answer.WriteString(e.Chunk.Text)
		if strings.TrimSpace(e.Chunk.Text) != "" {
			now := t.clock()
			if t.firstText.IsZero() {
				t.firstText = now
			}
			t.lastText = now
		}
	case run.EventNodeFinished:
		t.usage.add(e.Node)
		if t.showResources && len(e.Node.RetrieverResources) > 0 {
			t.addResources(e.Node.RetrieverResources)
		}
	case run.EventWorkflowFinished:
		t.info = e.Run
	}
}

// add counts a node's model usage: process_data.usage (LLM, classifier,
// extractor) or outputs.usage.
func (u *usage) add(n *run.NodeRun) {
	m, ok := n.ProcessData.Get("usage")
	if !ok {
		m, ok = n.Outputs.Get("usage")
	}
	if !ok {
		return
	}
	um, ok := m.(map[string]any)
	if !ok {
		return
	}
	u.prompt += intOf(um["prompt_tokens"])
	u.completion += intOf(um["completion_tokens"])
	u.total += intOf(um["total_tokens"])
	if f, ok := um["latency"].(float64); ok {
		u.latency += f
	}
}

func intOf(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

// records builds the turn's chat records from the finished run: the
// message, the conversation when the turn starts it, and every
// conversation variable the turn changed (all of them, the first time).
func (t *chatTurn) records() *repo.Batch {
	info := t.info
	if info == nil {
		return nil
	}
	fin := info.FinishedAt
	b := &repo.Batch{}
	inputs := jsonOrEmpty(t.inputs)
	if t.newConv {
		t.created = &repo.Conversation{
			ID: t.conv.ID, AppID: t.app.ID, User: t.user, Name: conversationName(t.query),
			Inputs: inputs, Introduction: introduction(t.app.Workflow, t.inputs), Status: "normal",
			CreatedAt: t.createdAt, UpdatedAt: t.createdAt, Seq: repo.Version(t.createdAt),
		}
		b.Conversations = []*repo.Conversation{t.created}
	}
	m := &repo.Message{
		ID: t.messageID, AppID: t.app.ID, ConversationID: t.conv.ID, User: t.user, WorkflowRunID: info.ID,
		Inputs: inputs, Query: t.query, Answer: t.answer.String(), Status: repo.MessageNormal,
		Metadata: t.metadata(), MessageTokens: t.usage.prompt, AnswerTokens: t.usage.completion,
		TotalPrice: "0", Currency: "USD", Latency: fin.Sub(t.createdAt).Seconds(),
		CreatedAt: t.createdAt, UpdatedAt: fin, Seq: repo.Version(fin),
	}
	if info.Status == run.StatusFailed {
		m.Status, m.Error = repo.MessageError, info.Error
	}
	b.Messages = []*repo.Message{m}
	specs := t.app.Workflow.Doc.Workflow.ConversationVariables
	for _, v := range info.ConversationVars {
		raw, err := run.JSON(v.Value)
		if err != nil {
			continue
		}
		old := t.vars[v.Name]
		if old != nil && bytes.Equal(old.Value, raw) {
			continue
		}
		rec := &repo.ConversationVariable{
			ConversationID: t.conv.ID, AppID: t.app.ID, Name: v.Name, Value: raw,
			CreatedAt: fin, UpdatedAt: fin, Seq: repo.Version(fin),
		}
		for _, s := range specs {
			if s.Name == v.Name {
				rec.ID, rec.ValueType, rec.Description = s.ID, s.ValueType, s.Description
				break
			}
		}
		if old != nil {
			rec.ID, rec.ValueType, rec.Description, rec.CreatedAt = old.ID, old.ValueType, old.Description, old.CreatedAt
		}
		if rec.ID == "" {
			rec.ID = v.Name
		}
		b.Variables = append(b.Variables, rec)
	}
	return b
}

// jsonOrEmpty encodes vs, {} when it cannot.
func jsonOrEmpty(vs run.Vars) []byte {
	raw, err := vs.MarshalJSON()
	if err != nil {
		return []byte("{}")
	}
	return raw
}

// introduction is the app's opening statement with {{var}} filled from
// the first turn's inputs, as Dify stores it on the conversation.
func introduction(wf *run.Workflow, inputs run.Vars) string {
	s, _ := wf.Doc.Workflow.Features["opening_statement"].(string)
	if s == "" || !strings.Contains(s, "{{") {
		return s
	}
	for _, v := range inputs {
		s = strings.ReplaceAll(s, "{{"+v.Name+"}}", run.Text(v.Value))
	}
	return s
}

// metadata is the message's metadata: Dify's {annotation_reply,
// retriever_resources, usage}, as the blocking body and the stored
// message carry it (built once, at the end of the run).
func (t *chatTurn) metadata() []byte {
	if t.meta == nil {
		e := enc{b: make([]byte, 0, 480), py: true}
		t.writeMetadata(&e, false)
		t.meta = e.b
	}
	return t.meta
}

// writeMetadata writes the metadata; stream selects the streaming form,
// where prices are strings.
func (t *chatTurn) writeMetadata(e *enc, stream bool) {
	e.open()
	e.plainKey("annotation_reply")
	e.null()
	e.plainKey("retriever_resources")
	t.writeResources(e)
	e.plainKey("usage")
	t.writeUsage(e, stream)
	e.close()
}

// writeUsage writes Dify's LLMUsage: prices are Decimals, numbers in the
// blocking body (json.dumps of decimal_encoder: Decimal("0.0") is 0.0)
// and strings in the stream (pydantic's JSON mode). flowrun prices every
// model at zero.
func (t *chatTurn) writeUsage(e *enc, stream bool) {
	price := func(k string) {
		e.plainKey(k)
		if stream {
			e.b = append(e.b, `"0.0"`...)
		} else {
			e.b = append(e.b, "0.0"...)
		}
	}
	u := t.usage
	e.open()
	e.plainKey("prompt_tokens")
	e.int(u.prompt)
	price("prompt_unit_price")
	price("prompt_price_unit")
	price("prompt_price")
	e.plainKey("completion_tokens")
	e.int(u.completion)
	price("completion_unit_price")
	price("completion_price_unit")
	price("completion_price")
	e.plainKey("total_tokens")
	e.int(u.total)
	price("total_price")
	e.plainKey("currency")
	e.b = append(e.b, `"USD"`...)
	e.plainKey("latency")
	e.float(math.Round(u.latency*1000) / 1000)
	e.plainKey("time_to_first_token")
	if t.firstText.IsZero() {
		e.null()
	} else {
		e.float(math.Round(t.firstText.Sub(t.createdAt).Seconds()*1000) / 1000)
	}
	e.plainKey("time_to_generate")
	if t.firstText.IsZero() {
		e.null()
	} else {
		e.float(math.Round(t.lastText.Sub(t.firstText).Seconds()*1000) / 1000)
	}
	e.close()
}

// blockingBody writes the blocking response (Dify's
// ChatbotAppBlockingResponse, json.dumps style).
func (t *chatTurn) blockingBody(e *enc, taskID string) {
	e.open()
	e.key("event")
	e.str("message")
	e.key("task_id")
	e.str(taskID)
	e.key("id")
	e.str(t.messageID)
	e.key("message_id")
	e.str(t.messageID)
	e.key("conversation_id")
	e.str(t.conv.ID)
	e.key("mode")
	e.str("advanced-chat")
	e.key("answer")
	e.str(t.answer.String())
	e.key("metadata")
	e.b = append(e.b, t.metadata()...)
	e.key("created_at")
	e.int(t.createdAt.Unix())
	e.close()
}

// named starts naming the conversation the turn created, if it asked for
// it; call it once the turn's records are written.
func (t *chatTurn) named(s *Server) {
	if t.created != nil && t.autoName {
		s.nameLater(t.app, t.created, t.query)
	}
}
