// Package builtin holds flowrun's native tool providers: Dify's built-in
// `time` provider and the `json_process` plugin, reimplemented in Go with
// their outputs and messages.
//
// Kind is the factory of tools.yaml's kind builtin; Defaults lists the
// providers that are on without any configuration (time, and
// json_process under its bare and its plugin id).
package builtin

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/flowrun/flowrun/internal/tools"
)

// Options configure the native providers.
type Options struct {
	// Now is the clock of current_time (default time.Now).
	Now func() time.Time
	// Local is the server's zone, used where Dify's tools fall back to
	// the local zone (an empty timezone argument). Default time.Local.
	Local *time.Location
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Local == nil {
		o.Local = time.Local
	}
	return o
}

// Config is the configuration of kind builtin: which native provider an
// entry serves.
type Config struct {
	// Provider is "time" or "json_process"; it defaults to the entry's id
	// (or the <name> of an id langgenius/<name>/<name>).
	Provider string `json:"provider"`
}

// Defaults are the providers on without configuration.
func Defaults() []tools.ProviderConfig {
	return []tools.ProviderConfig{
		{ID: "time", Kind: "builtin"},
		{ID: "json_process", Kind: "builtin", Aliases: []string{"langgenius/json_process/json_process"}},
	}
}

// Kind returns the factory of kind builtin.
func Kind(o Options) tools.Factory {
	o = o.withDefaults()
	return func(_ context.Context, pc *tools.ProviderConfig) (tools.Provider, error) {
		var c Config
		if err := pc.Decode(&c); err != nil {
			return nil, err
		}
		name := cmp.Or(c.Provider, pc.ID)
		if parts := strings.Split(name, "/"); len(parts) == 3 && parts[0] == "langgenius" && parts[1] == parts[2] {
			name = parts[2]
		}
		mk, ok := natives[name]
		if !ok {
			return nil, fmt.Errorf("no built-in provider %q (built-in providers: %s; set provider: to one of them)", name, strings.Join(slices.Sorted(maps.Keys(natives)), ", "))
		}
		return mk(o), nil
	}
}

// natives builds each native provider.
var natives = map[string]func(Options) *provider{
	"time":         newTime,
	"json_process": newJSONProcess,
}

// fn runs one native tool.
type fn func(ctx context.Context, call *tools.Call, emit tools.Emit) error

// provider is a native provider: a fixed list of tools and their code.
type provider struct {
	tools []tools.Tool
	fns   map[string]fn
}

func (p *provider) add(t tools.Tool, f fn) {
	p.tools = append(p.tools, t)
	if p.fns == nil {
		p.fns = map[string]fn{}
	}
	p.fns[t.Name] = f
}

// Tools lists the provider's tools.
func (p *provider) Tools(context.Context) ([]tools.Tool, error) { return p.tools, nil }

// Invoke runs a tool.
func (p *provider) Invoke(ctx context.Context, call *tools.Call, emit tools.Emit) error {
	f, ok := p.fns[call.Tool]
	if !ok {
		return fmt.Errorf("Tool with name %s not found", call.Tool) //nolint:staticcheck // Dify's text
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return f(ctx, call, emit)
}

// arg returns argument name, or def when the call lacks it (Python's
// dict.get(name, def): a present null stays null).
func arg(call *tools.Call, name string, def any) any {
	if v, ok := call.Args[name]; ok {
		return v
	}
	return def
}

// text emits one text message.
func text(emit tools.Emit, s string) error { return emit(tools.TextMessage(s)) }
