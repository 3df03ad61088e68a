package run

import (
	"fmt"
	"strings"
	"testing"
)

// chainDoc is a workflow of n template-transform nodes in a chain between
// a start and an end node, each reading the one before it: chain3 scaled
// up, as YAML.
func chainDoc(n int) []byte {
	var b strings.Builder
	b.WriteString("app: {mode: workflow, name: chain}\nkind: app\nversion: 0.3.1\nworkflow:\n  graph:\n    nodes:\n")
	b.WriteString("    - id: start\n      data: {type: start, title: Start, variables: [{variable: query, label: query, type: text-input, required: true}]}\n")
	prev, out := "start", "query"
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "    - id: s%d\n      data: {type: template-transform, title: Step %d, variables: [{variable: q, value_selector: [%s, %s]}], template: '{{ q }}-%d'}\n", i, i, prev, out, i)
		prev, out = fmt.Sprintf("s%d", i), "output"
	}
	fmt.Fprintf(&b, "    - id: end\n      data: {type: end, title: End, outputs: [{variable: answer, value_selector: [%s, output], value_type: string}]}\n", prev)
	b.WriteString("    edges:\n")
	prev = "start"
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "    - {id: e%d, source: %s, sourceHandle: source, target: s%d, targetHandle: target}\n", i, prev, i)
		prev = fmt.Sprintf("s%d", i)
	}
	fmt.Fprintf(&b, "    - {id: e%d, source: %s, sourceHandle: source, target: end, targetHandle: target}\n", n+1, prev)
	return []byte(b.String())
}

// BenchmarkCompileChain loads chains of 1,000, 4,000 and 10,000 nodes:
// loading grows linearly, and a 10,000-node chain loads in well under a
// second. cpu-ns/op is the process's CPU time per load (GC included),
// which bounds the time a load takes on an otherwise idle machine.
func BenchmarkCompileChain(b *testing.B) {
	for _, n := range []int{1000, 4000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			doc := chainDoc(n)
			e := New(Config{}, nil)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if _, err := e.Compile(doc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkBigMapping decodes a mapping of 100,000 keys (under a raised
// DSL_MAX_MAPPING_KEYS) and refuses it under the default limits.
func BenchmarkBigMapping(b *testing.B) {
	doc := bigMapping(100_000)
	for _, tc := range []struct {
		name string
		lim  DocLimits
	}{{"parsed", DocLimits{MaxMappingKeys: 200_000}}, {"refused", DocLimits{}}} {
		b.Run(tc.name, func(b *testing.B) {
			e := New(Config{Document: tc.lim}, nil)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				_, _ = e.Compile(doc)
			}
		})
	}
}
