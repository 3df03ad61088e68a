package api

import (
	"github.com/flowrun/flowrun/internal/run"
)

// Stream payloads, field for field as Dify 1.12.1 builds them
// (api/core/app/entities/task_entities.py, converted by
// generate_response_converter.py): top level event, workflow_run_id,
// task_id, data.

// runMeta is what every event of one run shares.
type runMeta struct {
	runID     string
	taskID    string
	endUserID string // created_by.id
	// steps counts iteration_next/loop_next per container execution, for
	// the completed event's "steps".
	steps map[string]int
}

// event writes "data: <json>\n\n" for ev (orjson style).
func (m *runMeta) event(e *enc, ev *run.Event) {
	e.b = append(e.b, "data: "...)
	e.open()
	e.key("event")
	e.str(string(ev.Type))
	e.key("workflow_run_id")
	e.str(m.runID)
	e.key("task_id")
	e.str(m.taskID)
	e.key("data")
	m.data(e, ev)
	e.close()
	e.b = append(e.b, '\n', '\n')
}

// fail writes the stream's error event.
func (m *runMeta) fail(e *enc, h httpErr) { errorEvent(e, m.runID, h) }

// finish writes nothing: a workflow stream ends with workflow_finished.
func (m *runMeta) finish(*enc, *run.RunInfo) {}

// data writes the data object of ev.
func (m *runMeta) data(e *enc, ev *run.Event) {
	switch ev.Type {
	case run.EventWorkflowStarted:
		workflowStarted(e, ev.Run)
	case run.EventWorkflowFinished:
		workflowFinished(e, ev.Run, m.endUserID)
	case run.EventNodeStarted:
		nodeStarted(e, ev.Node)
	case run.EventNodeFinished, run.EventNodeRetry:
		nodeFinished(e, ev.Node, ev.Type == run.EventNodeRetry)
	case run.EventTextChunk:
		e.open()
		e.key("text")
		e.str(ev.Chunk.Text)
		e.key("from_variable_selector")
		e.strs(ev.Chunk.Selector)
		e.close()
	case run.EventIterationStarted, run.EventLoopStarted:
		containerStarted(e, ev.Node)
	case run.EventIterationNext, run.EventLoopNext:
		if m.steps == nil {
			m.steps = map[string]int{}
		}
		m.steps[ev.Next.NodeRunID]++
		containerNext(e, ev.Next, ev.Type == run.EventLoopNext)
	case run.EventIterationCompleted, run.EventLoopCompleted:
		containerCompleted(e, ev.Node, m.steps[ev.Node.ID])
	case run.EventAgentLog:
		agentLog(e, ev.Log)
	default:
		e.emptyObj()
	}
}

// agentLog writes an agent_log event's data (Dify's AgentLogStreamResponse.Data).
func agentLog(e *enc, l *run.AgentLog) {
	e.open()
	e.key("node_execution_id")
	e.str(l.NodeRunID)
	e.key("id")
	e.str(l.ID)
	e.key("label")
	e.str(l.Label)
	e.key("parent_id")
	e.nullStr(l.ParentID)
	e.key("error")
	e.nullStr(l.Error)
	e.key("status")
	e.str(l.Status)
	e.key("data")
	e.value(l.Data)
	e.key("metadata")
	e.value(l.Metadata)
	e.key("node_id")
	e.str(l.NodeID)
	e.close()
}

// errorEvent writes Dify's stream error event: no task_id, no data.
func errorEvent(e *enc, runID string, h httpErr) {
	e.b = append(e.b, "data: "...)
	e.open()
	e.key("event")
	e.str("error")
	e.key("workflow_run_id")
	e.nullStr(runID)
	e.key("code")
	e.str(h.Code)
	e.key("status")
	e.int(int64(h.Status))
	e.key("message")
	e.str(h.Message)
	e.close()
	e.b = append(e.b, '\n', '\n')
}

func workflowStarted(e *enc, r *run.RunInfo) {
	e.open()
	e.key("id")
	e.str(r.ID)
	e.key("workflow_id")
	e.str(r.WorkflowID)
	e.key("inputs")
	e.vars(r.Inputs)
	e.key("created_at")
	e.int(r.CreatedAt.Unix())
	e.close()
}

// runSummary writes the fields workflow_finished's data and the blocking
// response's data open with, in Dify's order.
func runSummary(e *enc, r *run.RunInfo) {
	e.key("id")
	e.str(r.ID)
	e.key("workflow_id")
	e.str(r.WorkflowID)
	e.key("status")
	e.str(string(r.Status))
	e.key("outputs")
	e.vars(r.Outputs)
	e.key("error")
	e.nullStr(r.Error)
	e.key("elapsed_time")
	e.float(r.Elapsed.Seconds())
	e.key("total_tokens")
	e.int(r.TotalTokens)
	e.key("total_steps")
	e.int(r.TotalSteps)
}

func workflowFinished(e *enc, r *run.RunInfo, endUserID string) {
	e.open()
	runSummary(e, r)
	e.key("created_by")
	e.open()
	e.key("id")
	e.str(endUserID)
	e.key("user")
	e.str(r.UserID)
	e.close()
	e.key("created_at")
	e.int(r.CreatedAt.Unix())
	e.key("finished_at")
	e.int(r.FinishedAt.Unix())
	e.key("exceptions_count")
	e.int(r.ExceptionsCount)
	e.key("files")
	e.value(filesIn(r.Outputs))
	e.close()
}

// nodeHead writes the fields node_started and node_finished open with.
func nodeHead(e *enc, n *run.NodeRun) {
	nodeIdentity(e, n.ID, n.NodeID, n.NodeType, n.Title, n.Index, n.PredecessorNodeID)
}

// nodeIdentity writes the fields that identify a node execution, in the
// order of Dify's node events (also used for stored node executions).
func nodeIdentity(e *enc, id, nodeID, nodeType, title string, index int64, pred string) {
	e.key("id")
	e.str(id)
	e.key("node_id")
	e.str(nodeID)
	e.key("node_type")
	e.str(nodeType)
	e.key("title")
	e.str(title)
	e.key("index")
	e.int(index)
	e.key("predecessor_node_id")
	e.nullStr(pred)
}

func nodeStarted(e *enc, n *run.NodeRun) {
	e.open()
	nodeHead(e, n)
	e.key("inputs")
	e.nullVars(n.Inputs)
	e.key("inputs_truncated")
	e.boolean(false)
	e.key("created_at")
	e.int(n.CreatedAt.Unix())
	e.key("extras")
	e.emptyObj()
	e.key("iteration_id")
	e.nullStr(n.IterationID)
	e.key("loop_id")
	e.nullStr(n.LoopID)
	e.key("agent_strategy")
	e.null()
	e.close()
}

func nodeFinished(e *enc, n *run.NodeRun, retry bool) {
	e.open()
	nodeHead(e, n)
	e.key("inputs")
	e.nullVars(n.Inputs)
	e.key("inputs_truncated")
	e.boolean(false)
	e.key("process_data")
	e.nullVars(n.ProcessData)
	e.key("process_data_truncated")
	e.boolean(false)
	e.key("outputs")
	e.nullVars(n.Outputs)
	e.key("outputs_truncated")
	e.boolean(false)
	e.key("status")
	e.str(string(n.Status))
	e.key("error")
	e.nullStr(n.Error)
	e.key("elapsed_time")
	e.float(n.Elapsed.Seconds())
	e.key("execution_metadata")
	e.value(n.ExecutionMetadata())
	e.key("created_at")
	e.int(n.CreatedAt.Unix())
	e.key("finished_at")
	e.int(n.FinishedAt.Unix())
	e.key("files")
	e.value(filesIn(n.Outputs))
	e.key("iteration_id")
	e.nullStr(n.IterationID)
	e.key("loop_id")
	e.nullStr(n.LoopID)
	if retry {
		e.key("retry_index")
		e.int(int64(n.RetryIndex))
	}
	e.close()
}

// containerHead writes the fields every iteration/loop event opens with;
// "id" is the node id, not an execution id, as in Dify.
func containerHead(e *enc, nodeID, nodeType, title string) {
	e.key("id")
	e.str(nodeID)
	e.key("node_id")
	e.str(nodeID)
	e.key("node_type")
	e.str(nodeType)
	e.key("title")
	e.str(title)
}

func containerStarted(e *enc, n *run.NodeRun) {
	e.open()
	containerHead(e, n.NodeID, n.NodeType, n.Title)
	e.key("created_at")
	e.int(n.CreatedAt.Unix())
	e.key("extras")
	e.emptyObj()
	e.key("metadata")
	if n.Metadata == nil {
		e.emptyObj()
	} else {
		e.value(n.Metadata)
	}
	e.key("inputs")
	e.nullVars(n.Inputs)
	e.key("inputs_truncated")
	e.boolean(false)
	e.close()
}

func containerNext(e *enc, x *run.Next, loop bool) {
	e.open()
	containerHead(e, x.NodeID, x.NodeType, x.Title)
	e.key("index")
	e.int(int64(x.Index))
	e.key("created_at")
	e.int(x.CreatedAt.Unix())
	if loop {
		e.key("pre_loop_output")
		e.emptyObj()
	}
	e.key("extras")
	e.emptyObj()
	e.close()
}

func containerCompleted(e *enc, n *run.NodeRun, steps int) {
	e.open()
	containerHead(e, n.NodeID, n.NodeType, n.Title)
	e.key("outputs")
	e.nullVars(n.Outputs)
	e.key("outputs_truncated")
	e.boolean(false)
	e.key("created_at")
	e.int(n.CreatedAt.Unix())
	e.key("extras")
	e.emptyObj()
	e.key("inputs")
	e.nullVars(n.Inputs)
	e.key("inputs_truncated")
	e.boolean(false)
	e.key("status")
	e.str(string(n.Status))
	e.key("error")
	e.nullStr(n.Error)
	e.key("elapsed_time")
	e.float(n.Elapsed.Seconds())
	e.key("total_tokens")
	e.int(n.Tokens)
	e.key("execution_metadata")
	e.value(n.ExecutionMetadata())
	e.key("finished_at")
	e.int(n.FinishedAt.Unix())
	e.key("steps")
	e.int(int64(steps))
	e.close()
}

// filesIn collects the file mappings among top-level output values (a file
// or a list of files), as Dify's fetch_files_from_node_outputs does.
func filesIn(vs run.Vars) []any {
	out := []any{}
	for _, v := range vs {
		switch x := v.Value.(type) {
		case map[string]any:
			if isFile(x) {
				out = append(out, x)
			}
		case []any:
			for _, el := range x {
				if m, ok := el.(map[string]any); ok && isFile(m) {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// isFile reports whether m is a Dify file mapping (serialised File model).
func isFile(m map[string]any) bool {
	if id, ok := m["dify_model_identity"].(string); ok {
		return id == "__dify__file__"
	}
	_, tm := m["transfer_method"]
	_, typ := m["type"]
	return tm && typ
}
