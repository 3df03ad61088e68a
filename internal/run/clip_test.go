package run

import (
	"strings"
	"testing"
)

func TestClip(t *testing.T) {
	t.Parallel()
	if got := Clip("short"); got != "short" {
		t.Fatalf("Clip(short) = %q", got)
	}
	exact := strings.Repeat("é", MaxQuoted)
	if got := Clip(exact); got != exact {
		t.Fatalf("a string of exactly MaxQuoted characters was clipped: %q", got)
	}
	got := Clip(strings.Repeat("é", 1_000_000))
	if want := strings.Repeat("é", MaxQuoted) + "… (1000000 characters)"; got != want {
		t.Fatalf("Clip(1e6 characters) = %.60q…", got)
	}
}

// TestErrorsQuoteABoundedPrefix: errors that quote a value (an invalid
// iterator, an assigner's invalid input) quote only its first MaxQuoted
// characters, however large the value.
func TestErrorsQuoteABoundedPrefix(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 5<<20)
	e := New(Config{}, ctRegistry())

	r := ctRun(t, e, ctIterDoc(huge, nil, []string{"it", "index"}, nil, nil), nil)
	if r.Info.Status != StatusFailed || len(r.Info.Error) > 400 || !strings.HasPrefix(r.Info.Error, "invalid iterator value: xxx") {
		t.Fatalf("iteration over a 5 MiB string: %s, error of %d bytes: %.120q", r.Info.Status, len(r.Info.Error), r.Info.Error)
	}

	n := ctAssignerNode(t, map[string]any{"version": "2", "items": []any{ctItem("i", "over-write", "variable", ctSrc("big"))}})
	_, pool := ctAssignPool()
	pool.Set("src", Vars{{"big", huge}})
	_, err := n.exec.Execute(t.Context(), &Exec{Pool: pool, Node: n})
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "characters)") {
		t.Fatalf("assigning a 5 MiB string to a number: error of %d bytes", len(err.Error()))
	}
}
