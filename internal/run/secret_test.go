package run

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

const secretDSL = `
app: {mode: workflow, name: secrets}
workflow:
  environment_variables:
  - {name: API_KEY, value_type: secret, value: "from-the-dsl"}
  - {name: REGION, value_type: string, value: eu}
  graph:
    nodes:
    - {id: start, data: {type: start, title: S, variables: []}}
    - id: t
      data:
        type: template-transform
        title: T
        variables:
        - {variable: k, value_selector: [env, API_KEY]}
        - {variable: r, value_selector: [env, REGION]}
        template: "key={{ k }} region={{ r }}"
    - {id: end, data: {type: end, title: E, outputs: [{variable: out, value_selector: [t, output]}, {variable: raw, value_selector: [env, API_KEY]}]}}
    edges:
    - {id: a, source: start, target: t}
    - {id: b, source: t, target: end}
`

func TestSecretsComeFromParamsAndAreRedacted(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, secretDSL)

	// The DSL's value is never used.
	info, _ := runWith(t, context.Background(), e, wf, nil)
	if got := sharedtest.JSON(t, info.Outputs); got != `{"out":"key= region=eu","raw":""}` {
		t.Fatalf("without a supplied secret: %s", got)
	}

	in, _ := wf.PrepareInputs(nil)
	rec := &recorder{}
	info = e.Run(context.Background(), wf, Params{RunID: "r", Inputs: in, Env: map[string]string{"API_KEY": "s3cr3t-value"}}, rec)
	if info.Status != StatusSucceeded {
		t.Fatal(info.Status, info.Error)
	}
	all, err := json.Marshal(rec.All())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(all), "s3cr3t") {
		t.Fatalf("secret value leaked into events: %s", all)
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"out":"key=****** region=eu","raw":"******"}` {
		t.Fatalf("outputs %s", got)
	}
	// Nodes saw the real value: the mask is applied only on the way out.
	if !strings.Contains(string(all), `"key=******`) {
		t.Fatal("template output not masked, or the node did not get the value")
	}
}
