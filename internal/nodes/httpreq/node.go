// Package httpreq implements Dify's http-request workflow node behind an
// SSRF guard.
//
// The node sends one HTTP request built from its DSL data (method, templated
// url, headers, params and body, authorization, timeouts, ssl_verify) and
// outputs {status_code, body, headers, files} as Dify does. Every
// connection, including each redirect hop and each remote file fetched for
// a request body, is made by a dialer that resolves the host itself, refuses
// non-public addresses (see Config.Allow and Config.AllowPrivateNetworks)
// and connects to the very address it checked; the socket's
// ControlContext checks it once more. Proxies are never used.
//
// docs/nodes.md describes the node's configuration, its SSRF policy and
// where it differs from Dify.
package httpreq

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/run"
)

// TypeName is the node's DSL type.
const TypeName = "http-request"

// Dify's error types (exception class names) reported by the node.
const (
	ErrTypeNode          = "HttpRequestNodeError"
	ErrTypeAuthorization = "AuthorizationConfigError"
	ErrTypeFileFetch     = "FileFetchError"
	ErrTypeInvalidURL    = "InvalidURLError"
	ErrTypeRequestBody   = "RequestBodyError"
	ErrTypeResponseSize  = "ResponseSizeError"
	ErrTypeResponseCode  = "HTTPResponseCodeError"
	// ErrTypeSSRF is the class Dify's ssrf_proxy raises when its proxy
	// refuses a destination.
	ErrTypeSSRF = "ToolSSRFError"
)

// Register adds the http-request node type to r, configured by cfg.
// It fails when cfg is invalid (negative limits, an Allow entry that is
// neither a CIDR, an address nor a host name).
func Register(r *run.Registry, cfg Config) error {
	_, err := register(r, cfg)
	return err
}

func register(r *run.Registry, cfg Config) (*clients, error) {
	cfg, p, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	cs := newClients(cfg, p)
	r.Register(run.NodeType{
		Name:  TypeName,
		Retry: true,
		Build: func(b *run.Build) (run.Executor, error) { return build(b, cs) },
	})
	return cs, nil
}

// configure validates cfg, fills in its defaults and builds its guard
// policy.
func configure(cfg Config) (Config, *policy, error) {
	if err := cfg.validate(); err != nil {
		return cfg, nil, err
	}
	cfg = cfg.withDefaults()
	prefixes, hosts, err := parseAllow(cfg.Allow)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, &policy{allowPrivate: cfg.AllowPrivateNetworks, prefixes: prefixes, hosts: hosts}, nil
}

var methods = map[string]bool{"get": true, "post": true, "put": true, "patch": true, "delete": true, "head": true, "options": true}

// nodeData is HttpRequestNodeData plus the BaseNodeData fields the node
// looks at.
type nodeData struct {
	Method        string         `json:"method"`
	URL           string         `json:"url"`
	Authorization *authorization `json:"authorization"`
	Headers       string         `json:"headers"`
	Params        string         `json:"params"`
	Body          *bodyData      `json:"body"`
	Timeout       *timeoutData   `json:"timeout"`
	SSLVerify     *bool          `json:"ssl_verify"`
	ErrorStrategy string         `json:"error_strategy"`
	RetryConfig   *struct {
		RetryEnabled bool `json:"retry_enabled"`
	} `json:"retry_config"`
}

type authorization struct {
	Type   string      `json:"type"`
	Config *authConfig `json:"config"`
}

type authConfig struct {
	Type   string `json:"type"`
	APIKey string `json:"api_key"`
	Header string `json:"header"`
}

type bodyData struct {
	Type string `json:"type"`
	// Data is a list of items, or (old DSLs) one string.
	Data any `json:"data"`
}

type bodyItem struct {
	Key   string   `json:"key"`
	Type  string   `json:"type"`
	Value string   `json:"value"`
	File  []string `json:"file"`
}

type timeoutData struct {
	Connect *float64 `json:"connect"`
	Read    *float64 `json:"read"`
	Write   *float64 `json:"write"`
}

// Body types.
const (
	bodyNone       = "none"
	bodyFormData   = "form-data"
	bodyURLEncoded = "x-www-form-urlencoded"
	bodyRawText    = "raw-text"
	bodyJSON       = "json"
	bodyBinary     = "binary"
)

var bodyTypes = map[string]bool{bodyNone: true, bodyFormData: true, bodyURLEncoded: true, bodyRawText: true, bodyJSON: true, bodyBinary: true}

// node is a compiled http-request node.
type node struct {
	cs     *clients
	method string // upper case
	url    run.Template
	// headers is templated as a whole, then split into lines, as in Dify.
	headers run.Template
	// params are split into lines first, then each key and value is
	// templated.
	params []param

	authType   string // "no-auth" or "api-key"
	authScheme string // basic, bearer, custom
	authHeader string
	apiKey     run.Template

	bodyType string
	items    []item

	timeouts transportKey
	// failOnStatus: a non-2xx response fails the node (error_strategy or
	// retry is set).
	failOnStatus bool
}

type param struct{ key, value run.Template }

type item struct {
	key, value run.Template
	isFile     bool
	file       run.Selector
}

func build(b *run.Build, cs *clients) (run.Executor, error) {
	var d nodeData
	if err := b.Decode(&d); err != nil {
		return nil, err
	}
	n := &node{cs: cs, method: strings.ToUpper(d.Method)}
	if !methods[strings.ToLower(d.Method)] {
		b.Errorf("method: invalid http method %q (want get, post, put, patch, delete, head or options)", d.Method)
	}
	n.url = b.Template("url", d.URL)
	n.headers = b.Template("headers", d.Headers)
	for _, line := range splitLines(d.Params) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		n.params = append(n.params, param{key: b.Template("params", k), value: b.Template("params", strings.TrimSpace(v))})
	}

	n.authType = "no-auth"
	if a := d.Authorization; a != nil && a.Type != "" {
		n.authType = a.Type
		switch a.Type {
		case "no-auth":
		case "api-key":
			if a.Config == nil {
				b.Errorf("authorization: config should be a dict")
				break
			}
			switch a.Config.Type {
			case "basic", "bearer", "custom":
			default:
				b.Errorf("authorization.config.type: invalid value %q (want basic, bearer or custom)", a.Config.Type)
			}
			n.authScheme = a.Config.Type
			n.authHeader = a.Config.Header
			if n.authHeader == "" {
				n.authHeader = "Authorization"
			}
			n.apiKey = b.Template("authorization.config.api_key", a.Config.APIKey)
		default:
			b.Errorf("authorization.type: invalid value %q (want no-auth or api-key)", a.Type)
		}
	}

	if d.Body != nil {
		n.bodyType = d.Body.Type
		if !bodyTypes[d.Body.Type] {
			b.Errorf("body.type: invalid value %q", d.Body.Type)
		}
		items, err := bodyItems(d.Body.Data)
		if err != nil {
			b.Errorf("body.data: %v", err)
		}
		for i, it := range items {
			field := fmt.Sprintf("body.data[%d]", i)
			if it.Type != "text" && it.Type != "file" {
				b.Errorf("%s.type: invalid value %q (want text or file)", field, it.Type)
			}
			c := item{key: b.Template(field+".key", it.Key), value: b.Template(field+".value", it.Value), isFile: it.Type == "file"}
			// Dify reads the file selector of binary bodies whatever the
			// item's type, and of form-data items of type file.
			if (n.bodyType == bodyBinary || (n.bodyType == bodyFormData && c.isFile)) && len(it.File) > 0 {
				c.file = b.Selector(field+".file", run.Selector(it.File))
			} else {
				c.file = run.Selector(it.File)
			}
			n.items = append(n.items, c)
		}
	}

	cfg := cs.cfg
	n.timeouts = transportKey{
		insecure: d.SSLVerify != nil && !*d.SSLVerify,
		connect:  cfg.MaxConnectTimeout,
		read:     cfg.MaxReadTimeout,
		write:    cfg.MaxWriteTimeout,
	}
	if t := d.Timeout; t != nil {
		n.timeouts.connect = seconds(t.Connect, cfg.MaxConnectTimeout)
		n.timeouts.read = seconds(t.Read, cfg.MaxReadTimeout)
		n.timeouts.write = seconds(t.Write, cfg.MaxWriteTimeout)
	}
	n.failOnStatus = d.ErrorStrategy != "" || (d.RetryConfig != nil && d.RetryConfig.RetryEnabled)
	return n, nil
}

// seconds converts a DSL timeout: unset or not positive means the maximum,
// anything above the maximum is capped to it.
func seconds(v *float64, maxD time.Duration) time.Duration {
	if v == nil || *v <= 0 || math.IsNaN(*v) {
		return maxD
	}
	if *v >= maxD.Seconds() {
		return maxD
	}
	return time.Duration(*v * float64(time.Second))
}

// bodyItems coerces body.data as Dify's HttpRequestNodeBody.check_data
// does: empty → no items, a string → one text item.
func bodyItems(data any) ([]bodyItem, error) {
	switch x := data.(type) {
	case nil:
		return nil, nil
	case string:
		if x == "" {
			return nil, nil
		}
		return []bodyItem{{Type: "text", Value: x}}, nil
	case []any:
		out := make([]bodyItem, 0, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("item %d is not an object", i)
			}
			var it bodyItem
			if err := decodeItem(m, &it); err != nil {
				return nil, fmt.Errorf("item %d: %v", i, err)
			}
			out = append(out, it)
		}
		return out, nil
	case bool:
		if !x {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("want a list of items or a string, got %T", data)
}

// splitLines splits s as Python's str.splitlines does.
func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= 0x80 {
			r, size = decodeRune(s[i:])
		}
		switch r {
		case '\r':
			out = append(out, s[start:i])
			if i+1 < len(s) && s[i+1] == '\n' {
				size = 2
			}
			start = i + size
		case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			out = append(out, s[start:i])
			start = i + size
		}
		i += size
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func decodeRune(s string) (rune, int) { return utf8.DecodeRuneInString(s) }

// decodeItem decodes one body.data item through JSON, as run.Build.Decode
// does for the whole node.
func decodeItem(m map[string]any, it *bodyItem) error {
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(js, it)
}
