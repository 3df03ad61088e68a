package run

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// The expectations were checked against pydantic 2.13 (an int and a bool
// field of a BaseModel in lax mode).
func TestLaxInt(t *testing.T) {
	t.Parallel()
	for in, want := range map[any]int64{
		"1": 1, " 1 ": 1, "\t7\n": 7, "+1": 1, "-0": 0, "01": 1, "1_000": 1000, "1.0": 1, "1.00": 1, "+0.0": 0,
		int64(5): 5, 3.0: 3, json.Number("12"): 12, json.Number("2.0"): 2, true: 1, false: 0,
	} {
		if got, err := laxInt(in); err != nil || got != want {
			t.Errorf("laxInt(%#v) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []any{"", "1.", "1e3", "0x10", "1.5", "1__000", "_1", "1_", "- 1", "+-1", "1.0e0", "１２",
		"9223372036854775808", 1.5, 1e20, nil, []any{}, json.Number("1e400")} {
		if got, err := laxInt(in); err == nil {
			t.Errorf("laxInt(%#v) = %d, want an error", in, got)
		}
	}
}

func TestLaxBool(t *testing.T) {
	t.Parallel()
	for in, want := range map[any]bool{
		"true": true, "True": true, "TRUE": true, "yes": true, "on": true, "t": true, "y": true, "1": true,
		"false": false, "no": false, "off": false, "f": false, "n": false, "0": false,
		true: true, false: false, int64(1): true, int64(0): false, 1.0: true, 0.0: false, json.Number("1"): true,
	} {
		if got, err := laxBool(in); err != nil || got != want {
			t.Errorf("laxBool(%#v) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []any{" true", "abc", "", int64(2), 0.5, nil} {
		if _, err := laxBool(in); err == nil {
			t.Errorf("laxBool(%#v): want an error", in)
		}
	}
}

// retry_config as some Dify exports write it: numbers as strings.
// pydantic converts them, so the node retries as configured.
func TestRetryConfigStrings(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "flaky:test-fail:{fail: flake, times: 2, retry_config: {retry_enabled: 'true', max_retries: '3', retry_interval: '1'}}"},
		[]string{"start->flaky"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if n := count(rec.trace(), "node_retry flaky retry"); n != 2 || info.Status != StatusSucceeded {
		t.Fatalf("status %s after %d retries, want succeeded after 2", info.Status, n)
	}

	_, err := e.Compile([]byte(graphYAML(
		[]string{queryStart, "flaky:test-fail:{fail: x, retry_config: {retry_enabled: true, max_retries: 'three'}}"},
		[]string{"start->flaky"})))
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].NodeID != "flaky" {
		t.Fatalf("max_retries 'three': %v, want one problem at node flaky", err)
	}
}
