// Package runtest runs workflows in tests: Recorder is a run.Listener
// that keeps a run's events and finds node records and streamed text in
// them, Compile and Run compile a document and run it.
//
// Only _test.go files import it. internal/run's own in-package tests
// cannot (runtest imports run); they use sharedtest.
package runtest

import (
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// Recorder is a run.Listener that keeps every event of a run, in order;
// it is safe for concurrent use. All returns the events. The zero value
// is ready to use.
type Recorder struct {
	sharedtest.Recorder[*run.Event]
	// Chunks, when set, receives the text of each text_chunk event as it
	// is emitted (the run waits for it to be taken).
	Chunks chan<- string
}

// OnEvent records e.
func (r *Recorder) OnEvent(e *run.Event) {
	r.Recorder.OnEvent(e)
	if e.Chunk != nil && r.Chunks != nil {
		r.Chunks <- e.Chunk.Text
	}
}

// Node returns the last node_finished record of node id, failing the test
// if the node has not finished.
func (r *Recorder) Node(t testing.TB, id string) *run.NodeRun {
	t.Helper()
	var last *run.NodeRun
	for _, e := range r.All() {
		if e.Type == run.EventNodeFinished && e.Node.NodeID == id {
			last = e.Node
		}
	}
	if last == nil {
		t.Fatalf("node %s did not finish; %s", id, r.outcome())
	}
	return last
}

// Nodes returns the node records of the events of type typ, of node id
// or, when id is "", of every node.
func (r *Recorder) Nodes(typ run.EventType, id string) []*run.NodeRun {
	var out []*run.NodeRun
	for _, e := range r.All() {
		if e.Type == typ && e.Node != nil && (id == "" || e.Node.NodeID == id) {
			out = append(out, e.Node)
		}
	}
	return out
}

// Text joins the text of the text_chunk events.
func (r *Recorder) Text() string {
	var b strings.Builder
	for _, e := range r.All() {
		if e.Chunk != nil {
			b.WriteString(e.Chunk.Text)
		}
	}
	return b.String()
}

// outcome describes how the run ended, for failure messages.
func (r *Recorder) outcome() string {
	for _, e := range r.All() {
		if e.Type == run.EventWorkflowFinished && e.Run != nil {
			return "run " + string(e.Run.Status) + ": " + e.Run.Error
		}
	}
	return "the run has not finished"
}
