package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowrun/flowrun/internal/tools"
)

// minRefresh is how often Refresh may list the tools again: a DSL naming
// a tool the server lacks must not make every call list them.
const minRefresh = time.Second

// maxPages bounds the pages of one listing (a server whose cursor never
// ends, or whose pages are empty).
const maxPages = 1000

// listing is the cached answer of tools/list.
type listing struct {
	// fetching is held while the tools are listed.
	fetching chan struct{}
	once     sync.Once

	mu      sync.Mutex
	tools   []tools.Tool
	outputs map[string]bool // tools declaring an output schema
	at      time.Time       // zero: nothing cached, or invalidated
	// refreshed is when Refresh last listed.
	refreshed time.Time
}

func (l *listing) init() { l.once.Do(func() { l.fetching = make(chan struct{}, 1) }) }

// get returns the cached tools when they were listed less than maxAge ago.
func (l *listing) get(maxAge time.Duration) ([]tools.Tool, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.at.IsZero() || time.Since(l.at) >= maxAge {
		return nil, false
	}
	return l.tools, true
}

func (l *listing) set(list []tools.Tool, outputs map[string]bool) {
	l.mu.Lock()
	l.tools, l.outputs, l.at = list, outputs, time.Now()
	l.mu.Unlock()
}

// invalidate makes the next Tools list them again.
func (l *listing) invalidate() {
	l.mu.Lock()
	l.at = time.Time{}
	l.mu.Unlock()
}

// hasOutput reports whether tool name declares an output schema, as last
// listed.
func (l *listing) hasOutput(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.outputs[name]
}

// Tools lists the server's tools (tools/list, every page), cached for
// Options.ListTTL. Each tool's parameters are derived from its input
// schema as Dify does, each carrying its property's schema.
func (p *Provider) Tools(ctx context.Context) ([]tools.Tool, error) {
	if list, ok := p.cache.get(p.opts.ListTTL); ok {
		return list, nil
	}
	return p.list(ctx, p.opts.ListTTL)
}

// Refresh lists the tools again, unless Refresh did within the last
// second: the registry calls it when a tool is not found, so that a tool
// the server added is found before the cache expires, while a DSL naming
// a tool the server lacks lists them at most once a second.
func (p *Provider) Refresh(ctx context.Context) ([]tools.Tool, error) {
	p.cache.mu.Lock()
	recent := time.Since(p.cache.refreshed) < minRefresh
	if !recent {
		p.cache.refreshed = time.Now()
	}
	p.cache.mu.Unlock()
	if recent {
		return p.Tools(ctx)
	}
	p.cache.invalidate()
	return p.list(ctx, p.opts.ListTTL)
}

// list lists the tools unless a listing younger than maxAge is cached
// (one may have arrived while waiting for another caller's listing).
func (p *Provider) list(ctx context.Context, maxAge time.Duration) ([]tools.Tool, error) {
	p.cache.init()
	select {
	case p.cache.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.cache.fetching }()
	if list, ok := p.cache.get(maxAge); ok {
		return list, nil
	}
	var list []tools.Tool
	outputs := map[string]bool{}
	before := p.oversized.Load()
	err := p.do(ctx, always, func(ctx context.Context, s *mcp.ClientSession) error {
		ctx, cancel := context.WithTimeout(ctx, p.timeout())
		defer cancel()
		list, outputs = list[:0], map[string]bool{}
		seen := map[string]bool{}
		cursor := ""
		for page := 0; ; page++ {
			if page == maxPages {
				return &limitError{fmt.Sprintf("the MCP server's tools/list has more than %d pages", maxPages)}
			}
			res, err := s.ListTools(ctx, &mcp.ListToolsParams{Cursor: cursor})
			if err != nil {
				return err
			}
			for _, t := range res.Tools {
				if t == nil || seen[t.Name] {
					continue
				}
				if len(list) == p.opts.MaxTools {
					return &limitError{fmt.Sprintf("the MCP server lists more than %d tools", p.opts.MaxTools)}
				}
				seen[t.Name] = true
				list = append(list, convert(t))
				outputs[t.Name] = t.OutputSchema != nil
			}
			if res.NextCursor == "" {
				return nil
			}
			cursor = res.NextCursor
		}
	})
	if err != nil {
		return nil, p.failure(ctx, err, before)
	}
	p.cache.set(list, outputs)
	return list, nil
}

// convert maps an MCP tool to a tools.Tool.
func convert(t *mcp.Tool) tools.Tool {
	label := t.Title
	if label == "" && t.Annotations != nil {
		label = t.Annotations.Title
	}
	if label == "" {
		label = t.Name
	}
	out := tools.Tool{Name: t.Name, Label: label, Description: t.Description, Params: params(object(t.InputSchema))}
	if t.OutputSchema != nil {
		out.OutputSchema, _ = json.Marshal(t.OutputSchema)
	}
	return out
}

// params derives a tool's parameters from its input schema as Dify's
// convert_mcp_schema_to_parameter does: one llm parameter per top-level
// property (in name order; Dify keeps the schema's), typed by the
// property's type (its first when a list; integer and float are number;
// none is string; a type Dify lacks is any), required when listed in
// required. Each carries its property's schema, which models get as it
// is.
func params(schema map[string]any) []tools.Param {
	props, _ := schema["properties"].(map[string]any)
	if schema["type"] != "object" || props == nil {
		return nil
	}
	required := map[string]bool{}
	if l, ok := schema["required"].([]any); ok {
		for _, r := range l {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	var out []tools.Param
	for _, name := range slices.Sorted(maps.Keys(props)) {
		prop, _ := props[name].(map[string]any)
		if prop == nil {
			prop = map[string]any{}
		}
		desc, _ := prop["description"].(string)
		out = append(out, tools.Param{
			Name:        name,
			Type:        paramType(prop["type"]),
			Required:    required[name],
			Description: desc,
			Form:        tools.FormLLM,
			Schema:      prop,
		})
	}
	return out
}

func paramType(t any) tools.ParamType {
	if l, ok := t.([]any); ok && len(l) > 0 {
		t = l[0]
	}
	switch t {
	case nil, "string":
		return tools.TypeString
	case "integer", "float", "number":
		return tools.TypeNumber
	case "boolean":
		return tools.TypeBoolean
	case "array":
		return tools.TypeArray
	case "object":
		return tools.TypeObject
	}
	return tools.TypeAny
}

// object returns a schema decoded by the SDK as a map.
func object(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return m
}

// limitError is a listing beyond a bound: the server answered, and its
// session is fine.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }
