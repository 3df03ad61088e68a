package builtin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/tools"
)

func TestKind(t *testing.T) {
	t.Parallel()
	cfg, err := tools.ParseConfig([]byte(`
providers:
- id: clock
  kind: builtin
  provider: time
- id: langgenius/json_process/json_process
  kind: builtin
`), "")
	if err != nil {
		t.Fatal(err)
	}
	kinds := tools.Kinds{"builtin": Kind(Options{})}
	reg, err := tools.Build(context.Background(), cfg, kinds, Defaults())
	if err != nil {
		t.Fatal(err)
	}
	// The file's json_process entry takes the plugin id from the default,
	// which keeps its bare id.
	if got := strings.Join(reg.IDs(), " "); got != "clock json_process langgenius/json_process/json_process time" {
		t.Fatalf("IDs = %s", got)
	}
	ctx := context.Background()
	for _, c := range []struct{ id, tool string }{{"clock", "weekday"}, {"time", "current_time"}, {"json_process", "json_insert"}, {"langgenius/json_process/json_process", "parse"}} {
		if _, _, err := reg.Lookup(ctx, "builtin", c.id, c.tool); err != nil {
			t.Errorf("Lookup(%s, %s): %v", c.id, c.tool, err)
		}
	}
	for _, c := range []struct{ yaml, want string }{
		{"providers: [{id: webscraper, kind: builtin}]", `no built-in provider "webscraper" (built-in providers: json_process, time; set provider: to one of them)`},
		{"providers: [{id: x, kind: builtin, provider: time, url: y}]", `unknown field "url"`},
	} {
		cfg, err := tools.ParseConfig([]byte(c.yaml), "")
		if err == nil {
			_, err = tools.Build(ctx, cfg, kinds, nil)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestProvider(t *testing.T) {
	t.Parallel()
	p := newTime(Options{Now: func() time.Time { return time.Unix(0, 0) }})
	list, _ := p.Tools(context.Background())
	var names []string
	for _, tl := range list {
		names = append(names, tl.Name)
	}
	if got := strings.Join(names, " "); got != "current_time timezone_conversion weekday localtime_to_timestamp timestamp_to_localtime" {
		t.Fatalf("tools %s", got)
	}
	if err := p.Invoke(context.Background(), &tools.Call{Tool: "nope"}, nil); err == nil || err.Error() != "Tool with name nope not found" {
		t.Fatalf("unknown tool: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Invoke(ctx, &tools.Call{Tool: "current_time"}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// Defaults apply when the node passes nothing.
	if got := invoke(t, p, "current_time", nil); got != "1970-01-01 00:00:00 UTC" {
		t.Fatalf("current_time() = %q", got)
	}
}

func TestStrftimeBounds(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)
	if got := strftime(at, -1, "%99999999999Y", time.UTC); len(got) != 4096 {
		t.Fatalf("huge width: %d bytes", len(got))
	}
	for format, want := range map[string]string{"%": "%", "%-": "%-", "%_": "%_", "%5": "   %5", "%E": "%E", "%EY": "2024", "%Oy": "24", "%OY": "%OY", "%-5": "  %-5",
		"%5Q": "  %5Q", "%05Q": "0%05Q", "%10Ox": "     %10Ox", "%3%": "  %", "%03%": "00%", "%#3a": "TUE", "%03a": "Tue", "%-3p": " AM", "%^10B": "     MARCH", "%10c": "Tue Mar  5 07:08:09 2024"} {
		if got := strftime(at, -1, format, time.UTC); got != want {
			t.Errorf("strftime(%q) = %q, want %q", format, got, want)
		}
	}
}
