package hostile

import (
	"fmt"
	"strings"
)

// indent prefixes every line of s with n spaces (for block scalars).
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

// startVars declares text inputs named names.
func startVars(names ...string) string {
	var b strings.Builder
	b.WriteString("        variables:")
	if len(names) == 0 {
		b.WriteString(" []")
	}
	for _, n := range names {
		fmt.Fprintf(&b, "\n        - {variable: %s, label: %s, type: paragraph, required: false, max_length: 100000}", n, n)
	}
	return b.String()
}

// oneNodeApp is Start (with startVars) → one node whose data is node
// (YAML lines at the node's indentation) → End returning its field out
// as r.
func oneNodeApp(name, vars, node, out string) app {
	return app{name: name, dsl: fmt.Sprintf(`app: {mode: workflow, name: %s}
kind: app
version: 0.3.1
workflow:
  graph:
    nodes:
    - id: start
      data:
        type: start
        title: Start
%s
    - id: n
      data:
%s
    - id: end
      data:
        type: end
        title: End
        outputs: [{variable: r, value_selector: [n, %s], value_type: string}]
    edges:
    - {id: e1, source: start, sourceHandle: source, target: n, targetHandle: target}
    - {id: e2, source: n, sourceHandle: source, target: end, targetHandle: target}
`, name, vars, node, out)}
}

// codeApp is Start → one code node (output r, a string) → End.
func codeApp(name, lang, code string, inputs ...string) app {
	var vars strings.Builder
	for _, in := range inputs {
		fmt.Fprintf(&vars, "\n        - {variable: %s, value_selector: [start, %s]}", in, in)
	}
	varList := vars.String()
	if varList == "" {
		varList = " []"
	}
	return oneNodeApp(name, startVars(inputs...), fmt.Sprintf(`        type: code
        title: Code
        code_language: %s
        code: |
%s
        variables:%s
        outputs: {r: {type: string}}`, lang, indent(code, 10), varList), "r")
}

// templateApp is Start → one template-transform node → End.
func templateApp(name, tmpl string) app {
	return oneNodeApp(name, startVars(), fmt.Sprintf(`        type: template-transform
        title: T
        variables: []
        template: |
%s`, indent(tmpl, 10)), "output")
}

// canaryMarker is in the canary's code: no other app may ever see it.
const canaryMarker = "CANARY-MARKER-5f2e"

// canary runs Python, then JavaScript, then a template on its input n and
// answers "<2n>-<2n+1>".
var canary = app{name: "canary", dsl: `app: {mode: workflow, name: canary}
kind: app
version: 0.3.1
workflow:
  graph:
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: n, label: n, type: text-input, required: true, max_length: 32}
    - id: py
      data:
        type: code
        title: Py
        code_language: python3
        code: |
          MARK = "` + canaryMarker + `"
          def main(n: str) -> dict:
              return {"r": str(int(n) * 2)}
        variables: [{variable: n, value_selector: [start, n]}]
        outputs: {r: {type: string}}
    - id: js
      data:
        type: code
        title: Js
        code_language: javascript
        code: |
          const MARK = "` + canaryMarker + `";
          function main({r}) { return {s: String(Number(r) + 1)} }
        variables: [{variable: r, value_selector: [py, r]}]
        outputs: {s: {type: string}}
    - id: t
      data:
        type: template-transform
        title: T
        variables: [{variable: r, value_selector: [py, r]}, {variable: s, value_selector: [js, s]}]
        template: "{{ r }}-{{ s }}"
    - id: end
      data:
        type: end
        title: End
        outputs: [{variable: answer, value_selector: [t, output], value_type: string}]
    edges:
    - {id: e1, source: start, sourceHandle: source, target: py, targetHandle: target}
    - {id: e2, source: py, sourceHandle: source, target: js, targetHandle: target}
    - {id: e3, source: js, sourceHandle: source, target: t, targetHandle: target}
    - {id: e4, source: t, sourceHandle: source, target: end, targetHandle: target}
`}
