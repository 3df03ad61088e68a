package code

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// runWorkflow compiles src with the code node registered into the default
// registry and runs it.
func runWorkflow(t *testing.T, cfg Config, src string, inputs map[string]any) (*run.RunInfo, *runtest.Recorder) {
	t.Helper()
	reg := run.NewRegistry()
	rn, err := Register(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Start(context.Background()); err != nil {
		t.Fatalf("start (python3 is required): %v", err)
	}
	t.Cleanup(func() { _ = rn.Stop(context.Background()) })
	eng := run.New(run.Config{}, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runtest.Run(t, ctx, eng, runtest.Compile(t, eng, src), run.Params{}, inputs, nil)
}

// TestDifyFixture runs Dify's own fixture (a Python code node feeding an
// iteration) to the documented outputs.
func TestDifyFixture(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "..", "run", "testdata", "dsl", "dify-fixtures", "array_iteration_formatting_workflow.yml"))
	if err != nil {
		t.Fatal(err)
	}
	info, ev := runWorkflow(t, Config{}, string(src), nil)
	if info.Status != run.StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"output":["output: 1","output: 2","output: 3"]}` {
		t.Fatalf("outputs %s", got)
	}
	code := ev.Nodes(run.EventNodeFinished, "1754683442688")
	if len(code) != 1 || sharedtest.JSON(t, code[0].Outputs) != `{"result":[1,2,3]}` {
		t.Fatalf("code node outputs: %+v", code)
	}
}

const pipelineYAML = `
app: {mode: workflow, name: code pipeline}
workflow:
  graph:
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: text, label: text, type: text-input, required: true}
        - {variable: n, label: n, type: number, required: true}
    - id: py
      data:
        type: code
        title: Python
        code_language: python3
        code: |
          def main(text: str, n: int) -> dict:
              words = text.split()
              return {"words": words, "count": len(words) * n, "meta": {"first": words[0], "ratio": 0.5}}
        variables:
        - {variable: text, value_selector: [start, text]}
        - {variable: n, value_selector: [start, n]}
        outputs:
          words: {type: "array[string]", children: null}
          count: {type: number, children: null}
          meta:
            type: object
            children:
              first: {type: string, children: null}
              ratio: {type: number, children: null}
    - id: js
      data:
        type: code
        title: JavaScript
        code_language: javascript
        code: |
          function main({words, count, first}) {
            return {shout: words.map(w => w.toUpperCase()), total: count + 0.25, ok: first === words[0]};
          }
        variables:
        - {variable: words, value_selector: [py, words]}
        - {variable: count, value_selector: [py, count]}
        - {variable: first, value_selector: [py, meta, first]}
        outputs:
          shout: {type: "array[string]"}
          total: {type: number}
          ok: {type: boolean}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: shout, value_selector: [js, shout]}
        - {variable: total, value_selector: [js, total]}
        - {variable: count, value_selector: [py, count]}
        - {variable: ok, value_selector: [js, ok]}
    edges:
    - {id: e1, source: start, target: py, sourceHandle: source}
    - {id: e2, source: py, target: js, sourceHandle: source}
    - {id: e3, source: js, target: end, sourceHandle: source}
`

// TestWorkflowPipeline chains a Python and a JavaScript node.
func TestWorkflowPipeline(t *testing.T) {
	t.Parallel()
	info, ev := runWorkflow(t, Config{}, pipelineYAML, map[string]any{"text": "hello code node", "n": 2})
	if info.Status != run.StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"shout":["HELLO","CODE","NODE"],"total":6.25,"count":6,"ok":true}` {
		t.Fatalf("outputs %s", got)
	}
	py := ev.Nodes(run.EventNodeFinished, "py")[0]
	if got := sharedtest.JSON(t, py.Inputs); got != `{"text":"hello code node","n":2}` {
		t.Fatalf("python node inputs %s", got)
	}
	if got := sharedtest.JSON(t, py.Outputs); got != `{"words":["hello","code","node"],"count":6,"meta":{"first":"hello","ratio":0.5}}` {
		t.Fatalf("python node outputs %s", got)
	}
}

// TestWorkflowRetry: a node failing twice succeeds on its third attempt.
func TestWorkflowRetry(t *testing.T) {
	t.Parallel()
	// Code can keep no state between calls (each runs in a fresh,
	// confined process), so the attempts are counted by a loopback server
	// that the node reaches with network allowed.
	var attempts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, attempts.Add(1))
	}))
	defer srv.Close()
	src := `
app: {mode: workflow, name: retry}
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, title: Start, variables: []}
    - id: flaky
      data:
        type: code
        title: Flaky
        code_language: python3
        code: |
          import urllib.request
          def main() -> dict:
              n = int(urllib.request.urlopen("` + srv.URL + `", timeout=5).read())
              if n < 3:
                  raise RuntimeError("attempt %d failed" % n)
              return {"attempts": n}
        variables: []
        outputs: {attempts: {type: number}}
        retry_config: {max_retries: 3, retry_interval: 10, retry_enabled: true}
    - id: end
      data:
        type: end
        title: End
        outputs: [{variable: attempts, value_selector: [flaky, attempts]}]
    edges:
    - {id: e1, source: start, target: flaky, sourceHandle: source}
    - {id: e2, source: flaky, target: end, sourceHandle: source}
`
	info, ev := runWorkflow(t, Config{PythonAllowNetwork: true}, src, nil)
	if info.Status != run.StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"attempts":3}` {
		t.Fatalf("outputs %s", got)
	}
	retries := ev.Nodes(run.EventNodeRetry, "flaky")
	if len(retries) != 2 {
		t.Fatalf("%d node_retry events, want 2", len(retries))
	}
	if r := retries[0]; r.ErrorType != TypeExecution || !strings.Contains(r.Error, "RuntimeError: attempt 1 failed") || r.RetryIndex != 1 {
		t.Fatalf("first retry: %s %q (index %d)", r.ErrorType, r.Error, r.RetryIndex)
	}
}

// TestWorkflowFailBranch: after its retries a failing node takes the
// fail-branch, and the run ends partial-succeeded.
func TestWorkflowFailBranch(t *testing.T) {
	t.Parallel()
	src := `
app: {mode: workflow, name: fail branch}
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, title: Start, variables: []}
    - id: bad
      data:
        type: code
        title: Bad
        code_language: javascript
        code: "function main() { return {n: 'not a number'} }"
        variables: []
        outputs: {n: {type: number}}
        retry_config: {max_retries: 1, retry_interval: 0, retry_enabled: true}
        error_strategy: fail-branch
    - id: ok
      data: {type: end, title: OK, outputs: [{variable: n, value_selector: [bad, n]}]}
    - id: failed
      data:
        type: end
        title: Failed
        outputs:
        - {variable: message, value_selector: [bad, error_message]}
        - {variable: type, value_selector: [bad, error_type]}
    edges:
    - {id: e1, source: start, target: bad, sourceHandle: source}
    - {id: e2, source: bad, target: ok, sourceHandle: source}
    - {id: e3, source: bad, target: failed, sourceHandle: fail-branch}
`
	info, ev := runWorkflow(t, Config{}, src, nil)
	if info.Status != run.StatusPartialSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	want := `{"message":"Output n is not a number, got \u003cclass 'str'\u003e instead.","type":"OutputValidationError"}`
	if got := sharedtest.JSON(t, info.Outputs); got != want && got != strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(want) {
		t.Fatalf("outputs %s", got)
	}
	if n := len(ev.Nodes(run.EventNodeRetry, "bad")); n != 1 {
		t.Fatalf("%d retries, want 1", n)
	}
	fin := ev.Nodes(run.EventNodeFinished, "bad")
	if len(fin) != 1 || fin[0].Status != run.StatusException {
		t.Fatalf("bad node: %+v", fin)
	}
	if len(ev.Nodes(run.EventNodeStarted, "ok")) != 0 {
		t.Fatal("the success branch ran")
	}
}

// TestWorkflowCompileErrors: invalid code node data is reported at load
// time.
func TestWorkflowCompileErrors(t *testing.T) {
	t.Parallel()
	reg := run.NewRegistry()
	if _, err := Register(reg, Config{}); err != nil {
		t.Fatal(err)
	}
	src := `
app: {mode: workflow, name: bad}
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, title: Start, variables: []}
    - id: c
      data:
        type: code
        title: C
        code_language: ruby
        code: ""
        variables: [{variable: x, value_selector: [nowhere, x]}]
        outputs: {a: {type: file}}
    edges:
    - {id: e1, source: start, target: c, sourceHandle: source}
`
	_, err := run.New(run.Config{}, reg).Compile([]byte(src))
	if err == nil {
		t.Fatal("compiled")
	}
	for _, want := range []string{"code_language", "invalid type for code output", "nowhere"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
