package builtin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/tools"
)

// TestTime replays testdata/time.jsonl: each line is [tool, arguments,
// text], the text being what Dify 1.12.1's time tools answer (their code
// run on CPython with pytz, at 2024-03-05 07:08:09.123456 UTC on a server
// in America/New_York); "ToolInvokeError: …" and "Error: …" are the
// failures.
func TestTime(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1709622489, 123456000)
	p := newTime(Options{Now: func() time.Time { return now }, Local: ny})
	n := replay(t, "testdata/time.jsonl", func(tool string, args map[string]any) string {
		msgs, err := tools.Collect(context.Background(), p, &tools.Call{Tool: tool, Args: args})
		switch {
		case tools.TypeOf(err) == tools.ErrTypeInvoke:
			return "ToolInvokeError: " + err.Error()
		case err != nil:
			return "Error: " + err.Error()
		}
		var b strings.Builder
		for _, m := range msgs {
			b.WriteString(m.Text)
		}
		return b.String()
	})
	if n < 80 {
		t.Fatalf("only %d cases", n)
	}
}

// TestTimeZoneNames: pytz's names, any case; nothing else.
func TestTimeZoneNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"UTC", "utc", "Asia/Shanghai", "ASIA/SHANGHAI", "US/Pacific", "Etc/GMT+8", "GB", "America/Argentina/Buenos_Aires", "America/Ciudad_Juarez"} {
		if _, err := loadZone(name); err != nil {
			t.Errorf("loadZone(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "Local", "Factory", "../etc/passwd", "/usr/share/zoneinfo/UTC", "Asia", "Mars/Base"} {
		if _, err := loadZone(name); err == nil || err.Error() != py.Repr(name) {
			t.Errorf("loadZone(%q) = %v", name, err)
		}
	}
}
