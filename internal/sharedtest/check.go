package sharedtest

import (
	"encoding/json"
	"strings"
	"testing"
)

// JSON returns v marshalled, failing the test if it cannot be.
func JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return string(b)
}

// EqualLines fails the test unless got and want hold the same lines, and
// shows both when they differ.
func EqualLines(t testing.TB, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("mismatch\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
