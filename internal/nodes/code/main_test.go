package code

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/run"
)

func TestMain(m *testing.M) {
	WorkerMain()
	goleak.VerifyTestMain(m)
}

// startRunner starts a Runner for cfg and stops it when the test ends. A
// missing python3 fails the test with a clear message: CI machines have it.
func startRunner(t testing.TB, cfg Config) *Runner {
	t.Helper()
	rn, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Start(context.Background()); err != nil {
		if errors.Is(err, ErrPythonUnavailable) {
			t.Fatalf("python3 is required for the code node tests (apt-get install python3): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rn.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return rn
}

// runCode runs code and returns the decoded result or the error.
func runCode(t testing.TB, rn *Runner, lang, code string, inputs map[string]any) (map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, m, err := rn.Run(ctx, lang, code, inputs)
	return m, err
}

func mustRun(t testing.TB, rn *Runner, lang, code string, inputs map[string]any) map[string]any {
	t.Helper()
	m, err := runCode(t, rn, lang, code, inputs)
	if err != nil {
		t.Fatalf("%s: %v\ncode:\n%s", lang, err, code)
	}
	return m
}

// errorType returns the node error type of err, or "".
func errorType(err error) string {
	var ne *run.NodeError
	if errors.As(err, &ne) {
		return ne.Type
	}
	return ""
}
