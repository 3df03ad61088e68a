package run

// ExecutionMetadata is Dify's execution_metadata of n, as the node events
// and the node execution records carry it: the node's own metadata plus
// total_tokens (unless the node set it) and the iteration or loop position.
// It is nil when there is nothing to say (null in events, NULL in records).
func (n *NodeRun) ExecutionMetadata() map[string]any {
	if len(n.Metadata) == 0 && n.Tokens == 0 && n.IterationID == "" && n.LoopID == "" {
		return nil
	}
	m := make(map[string]any, len(n.Metadata)+4)
	for k, v := range n.Metadata {
		m[k] = v
	}
	if _, ok := m["total_tokens"]; !ok && n.Tokens > 0 {
		m["total_tokens"] = n.Tokens
	}
	if n.IterationID != "" {
		m["iteration_id"] = n.IterationID
		m["iteration_index"] = int64(n.IterationIndex)
	}
	if n.LoopID != "" {
		m["loop_id"] = n.LoopID
		m["loop_index"] = int64(n.LoopIndex)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
