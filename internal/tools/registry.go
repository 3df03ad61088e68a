package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Registry maps provider ids and aliases to providers. Fill it with Add
// (or Build) before use; lookups are then safe for concurrent use.
type Registry struct {
	byID  map[string]Provider
	order []Provider // distinct providers, for Close
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byID: map[string]Provider{}} }

// Add registers p under id and each alias. An id or alias already taken
// is an error wrapping ErrDuplicateProvider.
func (r *Registry) Add(id string, p Provider, aliases ...string) error {
	names := append([]string{id}, aliases...)
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("tool provider id or alias is empty")
		}
		if _, taken := r.byID[n]; taken || slices.Contains(names[:i], n) {
			return fmt.Errorf("%w: %q", ErrDuplicateProvider, n)
		}
	}
	for _, n := range names {
		r.byID[n] = p
	}
	r.order = append(r.order, p)
	return nil
}

// IDs lists the registered ids and aliases, sorted.
func (r *Registry) IDs() []string { return slices.Sorted(maps.Keys(r.byID)) }

// pluginID is Dify's plugin provider id <org>/<plugin>/<provider>; a bare
// name stands for langgenius/<name>/<name> (GenericProviderID).
var (
	pluginID = regexp.MustCompile(`^[a-z0-9_-]+/[a-z0-9_-]+/[a-z0-9_-]+$`)
	bareID   = regexp.MustCompile(`^[a-z0-9_-]+$`)
)

// Provider returns the provider registered under id. As in Dify, a bare
// id and its plugin form name the same provider: x and langgenius/x/x
// (langgenius/x_tool/x for jina, siliconflow, stepfun and gitee_ai).
func (r *Registry) Provider(id string) (Provider, bool) {
	if p, ok := r.byID[id]; ok {
		return p, true
	}
	switch {
	case bareID.MatchString(id):
		plugin := id
		if toolSuffixed[id] {
			plugin += "_tool"
		}
		p, ok := r.byID["langgenius/"+plugin+"/"+id]
		return p, ok
	case pluginID.MatchString(id):
		if parts := strings.Split(id, "/"); parts[0] == "langgenius" && (parts[1] == parts[2] || (toolSuffixed[parts[2]] && parts[1] == parts[2]+"_tool")) {
			p, ok := r.byID[parts[2]]
			return p, ok
		}
	}
	return nil, false
}

// toolSuffixed are the providers whose langgenius plugin is named
// <name>_tool (Dify's ToolProviderID).
var toolSuffixed = map[string]bool{"jina": true, "siliconflow": true, "stepfun": true, "gitee_ai": true}

// Lookup finds tool toolName of provider providerID. providerType is the
// DSL's provider_type; it only shapes the error messages, which are
// Dify's (ToolManager.get_tool_runtime): "plugin provider <id> not found"
// and the like, wrapping ErrProviderNotFound or ErrToolNotFound. For
// workflow providers, as in Dify, the tool name is not checked: the
// provider's first tool is the workflow. The Tool belongs to the provider:
// callers must not modify it.
func (r *Registry) Lookup(ctx context.Context, providerType, providerID, toolName string) (Provider, *Tool, error) {
	p, ok := r.Provider(providerID)
	if !ok {
		return nil, nil, &Error{Type: ErrTypeProviderNotFound, Err: notFound{providerNotFound(providerType, providerID), ErrProviderNotFound}}
	}
	list, err := p.Tools(ctx)
	if err != nil {
		return nil, nil, err
	}
	if providerType == "workflow" && len(list) > 0 {
		return p, &list[0], nil
	}
	if t := find(list, toolName); t != nil {
		return p, t, nil
	}
	if rp, ok := p.(Refresher); ok {
		if list, err = rp.Refresh(ctx); err != nil {
			return nil, nil, err
		}
		if t := find(list, toolName); t != nil {
			return p, t, nil
		}
	}
	return nil, nil, &Error{Type: ErrTypeProviderNotFound, Err: notFound{toolNotFound(providerType, providerID, toolName), ErrToolNotFound}}
}

// Refresher is a Provider whose tool list is cached (an MCP server's):
// Lookup calls Refresh when a tool is not in the list, so that a tool
// added since it was cached is found. Refresh may rate-limit itself.
type Refresher interface {
	Refresh(ctx context.Context) ([]Tool, error)
}

func find(list []Tool, name string) *Tool {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

// hardcoded are the providers Dify builds in rather than loading them as
// plugins.
var hardcoded = map[string]bool{"time": true, "code": true, "audio": true, "webscraper": true}

func providerNotFound(typ, id string) string {
	switch typ {
	case "api", "workflow", "mcp":
		return typ + " provider " + id + " not found"
	case "app":
		return "app provider not implemented"
	case "builtin", "plugin", "":
		if typ == "builtin" && hardcoded[id] {
			return "builtin provider " + id + " not found"
		}
		return "plugin provider " + id + " not found"
	}
	return "provider type " + typ + " not found"
}

func toolNotFound(typ, id, name string) string {
	switch {
	case typ == "builtin" && hardcoded[id]:
		return "builtin tool " + name + " not found"
	case typ == "api":
		return "tool " + name + " not found"
	}
	return "Tool with name " + name + " not found"
}

// notFound is a failed lookup: Dify's text, wrapping a sentinel.
type notFound struct {
	msg      string
	sentinel error
}

func (e notFound) Error() string { return e.msg }
func (e notFound) Unwrap() error { return e.sentinel }

// Close closes every registered provider that is an io.Closer.
func (r *Registry) Close() error {
	var errs []error
	for _, p := range r.order {
		if c, ok := p.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
