package code

import (
	"context"
	"testing"
)

// BenchmarkJavaScript measures the per-call overhead of a trivial main:
// pooled runtime, cached program, JSON in and out, global restore.
func BenchmarkJavaScript(b *testing.B) {
	rn := startRunner(b, Config{JSPoolSize: 1})
	code := "function main({a}) { return {result: a + 1} }"
	in := map[string]any{"a": int64(1)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := rn.Run(ctx, LangJavaScript, code, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPythonWarm measures a warm call to a pre-started worker: the
// request and reply over the pipes, a fresh globals dict, exec of the
// cached code object, main, json.dumps and the Go-side decode. Target:
// at most 1ms.
func BenchmarkPythonWarm(b *testing.B) {
	rn := startRunner(b, Config{PythonWorkers: 1})
	code := "def main(a: int) -> dict:\n    return {'result': a + 1}\n"
	in := map[string]any{"a": int64(1)}
	ctx := context.Background()
	if _, _, err := rn.Run(ctx, LangPython, code, in); err != nil { // warm the code cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := rn.Run(ctx, LangPython, code, in); err != nil {
			b.Fatal(err)
		}
	}
}
