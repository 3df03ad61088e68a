package builtin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
)

// replay runs each line of a testdata file, [tool, arguments, text],
// through call and compares what it returns with the text. It returns the
// number of lines.
func replay(t *testing.T, path string, call func(tool string, args map[string]any) string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var c []any
		if err := dec.Decode(&c); err != nil || len(c) != 3 {
			t.Fatalf("%s line %d: %v", path, n+1, err)
		}
		n++
		tool, args, want := c[0].(string), run.Normalize(c[1]).(map[string]any), c[2].(string)
		if got := call(tool, args); got != want {
			t.Errorf("%s(%v):\n got %q\nwant %q", tool, args, got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
