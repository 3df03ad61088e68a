package tools

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// echoKind is a test kind with one field.
type echoConfig struct {
	Greeting string   `json:"greeting"`
	Timeout  Duration `json:"timeout"`
}

func echoKind(built *[]echoConfig) Factory {
	return func(_ context.Context, pc *ProviderConfig) (Provider, error) {
		var c echoConfig
		if err := pc.Decode(&c); err != nil {
			return nil, err
		}
		if c.Greeting == "" {
			return nil, errors.New("greeting is required")
		}
		*built = append(*built, c)
		return &fake{tools: []Tool{{Name: c.Greeting}}}, nil
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`
providers:
- id: langgenius/tavily/tavily
  kind: echo
  aliases: [tavily, search]
  greeting: hello
  timeout: 2s
- id: time
  kind: echo
  greeting: mine
  timeout: 1.5
`), "/etc/flowrun")
	if err != nil {
		t.Fatal(err)
	}
	var built []echoConfig
	kinds := Kinds{"echo": echoKind(&built)}
	defaults := []ProviderConfig{
		{ID: "time", Kind: "echo", Spec: map[string]any{"greeting": "default"}},
		{ID: "json_process", Kind: "echo", Aliases: []string{"langgenius/json_process/json_process", "search"}, Spec: map[string]any{"greeting": "jp"}},
	}
	reg, err := Build(context.Background(), cfg, kinds, defaults)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(reg.IDs(), " "); got != "json_process langgenius/json_process/json_process langgenius/tavily/tavily search tavily time" {
		t.Fatalf("IDs = %s", got)
	}
	if len(built) != 3 || built[0].Timeout != Duration(2*time.Second) || built[1].Timeout != Duration(1500*time.Millisecond) || built[1].Greeting != "mine" {
		t.Fatalf("built %+v", built)
	}
	if cfg.Providers[0].Dir != "/etc/flowrun" {
		t.Fatalf("Dir = %q", cfg.Providers[0].Dir)
	}
	// No file: the defaults alone.
	reg, err = Build(context.Background(), nil, kinds, defaults[:1])
	if err != nil || strings.Join(reg.IDs(), " ") != "time" {
		t.Fatalf("Build(nil) = %v, %v", reg, err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	var built []echoConfig
	kinds := Kinds{"echo": echoKind(&built)}
	for _, c := range []struct{ yaml, want string }{
		{"provider: []", "field provider not found"},
		{"providers: [{kind: echo}]", "providers[0]: id is required"},
		{"providers: [{id: '', kind: echo}]", "providers[0]: id must be a non-empty string"},
		{"providers: [{id: 3, kind: echo}]", "providers[0]: id must be a non-empty string"},
		{"providers: [{id: x}]", "providers[0]: kind is required"},
		{"providers: [{id: x, kind: echo, aliases: a}]", "providers[0]: aliases must be a list of non-empty strings"},
		{"providers: [x]", "cannot unmarshal"},
		{"providers: [{id: x, kind: rest}]", `providers[0] (id "x", kind rest): unknown kind "rest" (known: echo)`},
		{"providers: [{id: x, kind: echo, greting: hi}]", `providers[0] (id "x", kind echo): unknown field "greting"`},
		{"providers: [{id: x, kind: echo, greeting: [1]}]", `providers[0] (id "x", kind echo): field greeting: cannot use array as string`},
		{"providers: [{id: x, kind: echo}]", `providers[0] (id "x", kind echo): greeting is required`},
		{"providers: [{id: x, kind: echo, greeting: a, timeout: soon}]", `bad duration "soon"`},
		{"providers: [{id: x, kind: echo, greeting: a, timeout: -1}]", `negative duration -1`},
		{"providers: [{id: x, kind: echo, greeting: a}, {id: y, kind: echo, greeting: b, aliases: [x]}]", `providers[1] (id "y", kind echo): duplicate tool provider id: "x"`},
		{"providers: [{id: x, kind: mcp, url: http://127.0.0.1/mcp}]", `unknown kind "mcp"`},
	} {
		cfg, err := ParseConfig([]byte(c.yaml), "")
		if err == nil {
			_, err = Build(context.Background(), cfg, kinds, nil)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: error = %v, want %q", c.yaml, err, c.want)
		}
	}
	if cfg, err := ParseConfig(nil, ""); err != nil || len(cfg.Providers) != 0 {
		t.Fatalf("ParseConfig(empty) = %v, %v", cfg, err)
	}
}
