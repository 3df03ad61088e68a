package tool

import (
	"context"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/builtin"
)

// builtinHarness runs documents against the built-in providers, with the
// clock at 2024-03-05 07:08:09 UTC.
func builtinHarness(t *testing.T) *harness {
	t.Helper()
	now := time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)
	kinds := tools.Kinds{"builtin": builtin.Kind(builtin.Options{Now: func() time.Time { return now }, Local: time.UTC})}
	reg, err := tools.Build(context.Background(), nil, kinds, builtin.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	nodes := run.NewRegistry()
	Register(nodes, reg, Config{})
	return &harness{eng: run.New(run.Config{}, nodes)}
}

// TestBuiltinTools runs the built-ins through the node as exports write
// them.
func TestBuiltinTools(t *testing.T) {
	t.Parallel()
	h := builtinHarness(t)
	for _, c := range []struct {
		name   string
		data   map[string]any
		inputs map[string]any
		want   string // the node's text output
		fail   string // or its error
	}{
		{name: "current_time", data: map[string]any{"provider_id": "time", "provider_name": "time", "tool_name": "current_time",
			"tool_configurations": map[string]any{
				"format":   map[string]any{"type": "mixed", "value": "%Y-%m-%d %H:%M %Z"},
				"timezone": map[string]any{"type": "constant", "value": "Asia/Tokyo"},
			}}, want: "2024-03-05 16:08 JST"},
		{name: "current_time legacy", data: map[string]any{"provider_id": "time", "tool_name": "current_time", "tool_node_version": nil,
			"tool_configurations": map[string]any{"format": "%A", "timezone": "America/Los_Angeles"}}, want: "Monday"},
		{name: "current_time legacy option", data: map[string]any{"provider_id": "time", "tool_name": "current_time", "tool_node_version": nil,
			"tool_configurations": map[string]any{"timezone": "Asia/Kathmandu"}},
			fail: "tool parameter timezone value Asia/Kathmandu not in options ['UTC', 'America/New_York', 'America/Los_Angeles', 'America/Chicago', 'America/Sao_Paulo', 'Asia/Shanghai', 'Asia/Ho_Chi_Minh', 'Asia/Tokyo', 'Asia/Dubai', 'Asia/Kolkata', 'Asia/Seoul', 'Asia/Singapore', 'Europe/London', 'Europe/Berlin', 'Europe/Moscow', 'Australia/Sydney', 'Pacific/Auckland', 'Africa/Cairo']"},
		{name: "conversion", data: map[string]any{"provider_id": "time", "provider_name": "time", "tool_name": "timezone_conversion",
			"tool_parameters": map[string]any{
				"current_time":     map[string]any{"type": "mixed", "value": "{{#start.a#}}"},
				"current_timezone": map[string]any{"type": "constant", "value": "Europe/London"},
			}}, inputs: map[string]any{"a": "2024-07-01 09:30:00"}, want: "2024-07-01 17:30:00"},
		{name: "conversion error", data: map[string]any{"provider_id": "time", "provider_name": "time", "tool_name": "timezone_conversion",
			"tool_parameters": map[string]any{
				"current_time":    map[string]any{"type": "mixed", "value": "{{#start.a#}}"},
				"target_timezone": map[string]any{"type": "constant", "value": "Mars/Base"},
			}}, inputs: map[string]any{"a": "2024-07-01 09:30:00"}, fail: "Failed to invoke tool time: 'Mars/Base'"},
		{name: "weekday", data: map[string]any{"provider_id": "time", "tool_name": "weekday",
			"tool_parameters": map[string]any{
				"year":  map[string]any{"type": "mixed", "value": "{{#start.a#}}"},
				"month": map[string]any{"type": "constant", "value": 2},
				"day":   map[string]any{"type": "constant", "value": "29"},
			}}, inputs: map[string]any{"a": "2024"}, want: "February 29, 2024 is Thursday."},
		{name: "json parse", data: map[string]any{"provider_id": "langgenius/json_process/json_process", "tool_name": "parse",
			"plugin_unique_identifier": "langgenius/json_process:0.0.7@abc",
			"tool_parameters": map[string]any{
				"content":     map[string]any{"type": "variable", "value": []any{"start", "a"}},
				"json_filter": map[string]any{"type": "mixed", "value": "$.{{#start.b#}}"},
			},
			"tool_configurations": map[string]any{"ensure_ascii": map[string]any{"type": "constant", "value": false}},
		}, inputs: map[string]any{"a": `{"city": {"name": "東京"}}`, "b": "city"}, want: `{"name": "東京"}`},
		{name: "json parse ascii", data: map[string]any{"provider_id": "json_process", "tool_name": "parse",
			"tool_parameters": map[string]any{
				"content":     map[string]any{"type": "variable", "value": []any{"start", "a"}},
				"json_filter": map[string]any{"type": "constant", "value": "$.city"},
			},
		}, inputs: map[string]any{"a": `{"city": {"name": "東京"}}`}, want: `{"name": "\u6771\u4eac"}`},
		{name: "json insert", data: map[string]any{"provider_id": "langgenius/json_process/json_process", "tool_name": "json_insert",
			"tool_parameters": map[string]any{
				"content":   map[string]any{"type": "mixed", "value": `{"tags": ["a"]}`},
				"query":     map[string]any{"type": "constant", "value": "$.tags"},
				"new_value": map[string]any{"type": "constant", "value": "b"},
			},
			"tool_configurations": map[string]any{"create_path": map[string]any{"type": "constant", "value": "False"}},
		}, want: `{"tags": ["a", "b"]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := h.run(t, context.Background(), doc(toolData("", c.data), "text"), c.inputs)
			n := o.Node(t, "tool")
			if c.fail != "" {
				if n.Error != c.fail {
					t.Fatalf("node %s: %q, want %q", n.Status, n.Error, c.fail)
				}
				return
			}
			if got, _ := n.Outputs.Get("text"); n.Status != run.StatusSucceeded || got != c.want {
				t.Fatalf("node %s %q: text %q, want %q", n.Status, n.Error, got, c.want)
			}
		})
	}
}
