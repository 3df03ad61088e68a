package run

// Conversation is what a chatflow (advanced-chat) turn knows of the
// conversation it belongs to. The caller loads it before the turn and
// stores what the turn changed afterwards (RunInfo.ConversationVars); the
// engine keeps no state between runs.
type Conversation struct {
	// ID is sys.conversation_id.
	ID string
	// Turn is sys.dialogue_count: the number of earlier turns plus one.
	Turn int64
	// History holds the most recent earlier turns, oldest first: at most
	// Workflow.HistoryLimit of them (nodes with memory read it through
	// Exec.History).
	History []Message
	// Vars are the conversation variables' current values by name. A
	// declared variable missing here starts from its declared value.
	Vars map[string]any
}

// Message is one earlier turn of a conversation, as memory renders it:
// the user's query and the answer the chatflow gave (empty when the turn
// failed).
type Message struct {
	Query  string
	Answer string
}

// HistoryUnbounded is the most Dify's TokenBufferMemory reads: 500
// message rows (message_limit) when a node's window is off or has no size,
// and the most Build.NeedHistory records. Those rows include the turn being
// answered, so such a node reads HistoryUnbounded-1 earlier turns.
const HistoryUnbounded = 500

// HistoryLimit is how many earlier turns the workflow's nodes with memory
// may read (the largest window any of them declared through
// Build.NeedHistory); 0 when no node has memory, so a turn need not load
// any history.
func (wf *Workflow) HistoryLimit() int { return wf.history }

// Chat reports whether the workflow is a chatflow (advanced-chat app).
func (wf *Workflow) Chat() bool { return wf.Doc.App.Mode == "advanced-chat" }

// NeedHistory declares that the node reads up to n earlier turns of the
// conversation (its memory window; HistoryUnbounded when the window is
// off). It only matters for chatflows.
func (b *Build) NeedHistory(n int) {
	if n <= 0 {
		return
	}
	if n > HistoryUnbounded {
		n = HistoryUnbounded
	}
	if n > b.c.history {
		b.c.history = n
	}
}

// History returns the conversation's earlier turns, oldest first, at most
// the workflow's HistoryLimit. It is nil only outside a chatflow turn
// (where Dify's nodes have no memory at all); a turn with no earlier
// turns gets an empty, non-nil slice. Callers must not modify it.
func (x *Exec) History() []Message {
	if x.run.conv == nil {
		return nil
	}
	if x.run.conv.History == nil {
		return []Message{}
	}
	return x.run.conv.History
}

// convVars are the conversation variables a turn starts from: the values
// conv carries, and the declared value of any it does not.
func (wf *Workflow) convVars(conv *Conversation) Vars {
	out := make(Vars, len(wf.conv))
	for i, v := range wf.conv {
		val, ok := any(nil), false
		if conv != nil {
			val, ok = conv.Vars[v.Name]
		}
		if !ok {
			val = v.Value
		}
		// The run may change its copy; the caller's values stay as they
		// were (a store may share them with other turns).
		out[i] = Var{v.Name, deepCopy(val)}
	}
	return out
}
