package openapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	"github.com/flowrun/flowrun/internal/tools"
)

// operation is one operation of the document: what Invoke needs to build
// its request (Dify's ApiToolBundle).
type operation struct {
	id     string
	method string // lower case, as Dify keeps it
	url    string // server URL + path, with {path} placeholders
	params []*openapi3.Parameter
	// bodyType is the request body's content type ("" without a body);
	// bodyProps its schema's properties in document order.
	bodyType     string
	bodyProps    []property
	bodyRequired map[string]bool
	// required are the tool parameters that are required, with defaults.
	required []tools.Param
}

// property is one property of a request body's schema.
type property struct {
	name   string
	schema *openapi3.SchemaRef
}

// methods are the methods Dify reads from a path item, in its order.
var methods = []string{"get", "post", "put", "delete", "patch", "head", "options", "trace"}

// parse reads an OpenAPI 3 or Swagger 2 document (JSON or YAML) into its
// tools and operations, in document order. External $refs are refused.
func parse(data []byte) ([]tools.Tool, []*operation, error) {
	doc, err := load(data)
	if err != nil {
		return nil, nil, err
	}
	if len(doc.Servers) == 0 || doc.Servers[0] == nil {
		return nil, nil, errors.New("No server found in the openapi yaml.") //nolint:staticcheck // Dify's text
	}
	server, err := serverURL(doc.Servers[0])
	if err != nil {
		return nil, nil, err
	}
	if doc.Paths == nil || doc.Paths.Len() == 0 {
		return nil, nil, errors.New("no paths found in the openapi document")
	}
	paths := doc.Paths.Map()
	var (
		list []tools.Tool
		ops  []*operation
	)
	for _, path := range inOrder(paths, func(p *openapi3.PathItem) *openapi3.Origin { return p.Origin }) {
		item := paths[path]
		for _, m := range methods {
			o := item.GetOperation(strings.ToUpper(m))
			if o == nil {
				continue
			}
			op, t := build(server, path, m, item, o)
			list = append(list, t)
			ops = append(ops, op)
		}
	}
	return list, ops, nil
}

// load decodes data; a Swagger 2 document is converted to OpenAPI 3.
func load(data []byte) (*openapi3.T, error) {
	var probe struct {
		Swagger string `yaml:"swagger"`
	}
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("Invalid api schema, schema is neither json nor yaml: %v", err) //nolint:staticcheck // Dify's text
	}
	loader := openapi3.NewLoader()
	loader.IncludeOrigin = true
	if probe.Swagger == "" {
		doc, err := loader.LoadFromData(data)
		if err != nil {
			return nil, fmt.Errorf("invalid openapi document: %w", err)
		}
		return doc, nil
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid swagger document: %w", err)
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(js, &doc2); err != nil {
		return nil, fmt.Errorf("invalid swagger document: %w", err)
	}
	// Dify's conversion requires every operation to have an operationId.
	for path, item := range doc2.Paths {
		for m, o := range item.Operations() {
			if o.OperationID == "" {
				return nil, fmt.Errorf("No operationId found in operation %s %s.", strings.ToLower(m), path) //nolint:staticcheck // Dify's text
			}
		}
	}
	doc, err := openapi2conv.ToV3WithLoader(&doc2, loader, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid swagger document: %w", err)
	}
	return doc, nil
}

// serverURL is the first server's URL with its variables at their
// defaults; it must be an absolute http(s) URL.
func serverURL(s *openapi3.Server) (string, error) {
	u := s.URL
	for name, v := range s.Variables {
		if v != nil {
			u = strings.ReplaceAll(u, "{"+name+"}", v.Default)
		}
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", fmt.Errorf("server url %q is not an absolute http(s) URL", s.URL)
	}
	return strings.TrimSuffix(u, "/"), nil
}

// build reads one operation as Dify's parser does.
func build(server, path, method string, item *openapi3.PathItem, o *openapi3.Operation) (*operation, tools.Tool) {
	op := &operation{method: method, url: server + path, bodyRequired: map[string]bool{}}
	var params []tools.Param
	for _, p := range parameters(item, o) {
		op.params = append(op.params, p)
		tp := tools.Param{Name: p.Name, Type: tools.TypeString, Required: p.Required,
			Description: p.Description, Form: tools.FormLLM}
		if p.Schema != nil && p.Schema.Value != nil {
			tp.Type = paramType(p.Schema.Value)
			tp.Default = p.Schema.Value.Default
		}
		params = append(params, tp)
	}
	if rb := o.RequestBody; rb != nil && rb.Value != nil && len(rb.Value.Content) > 0 {
		op.bodyType = contentType(rb.Value.Content)
		if mt := rb.Value.Content[op.bodyType]; mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
			s := mt.Schema.Value
			for _, r := range s.Required {
				op.bodyRequired[r] = true
			}
			for _, name := range inOrder(s.Properties, func(r *openapi3.SchemaRef) *openapi3.Origin {
				if r.Value == nil {
					return nil
				}
				return r.Value.Origin
			}) {
				ps := s.Properties[name]
				op.bodyProps = append(op.bodyProps, property{name: name, schema: ps})
				tp := tools.Param{Name: name, Type: tools.TypeString, Required: op.bodyRequired[name], Form: tools.FormLLM}
				if ps != nil && ps.Value != nil {
					tp.Type = paramType(ps.Value)
					tp.Description = ps.Value.Description
					tp.Default = ps.Value.Default
				}
				params = append(params, tp)
			}
		}
	}
	for _, p := range params {
		if p.Required {
			op.required = append(op.required, p)
		}
	}
	op.id = cmp.Or(o.OperationID, operationID(path, method))
	desc := cmp.Or(o.Description, o.Summary)
	return op, tools.Tool{Name: op.id, Label: op.id, Description: desc, Params: params}
}

// parameters are the path item's parameters overridden by the
// operation's (same name and location), as OpenAPI defines them. (Dify
// reads only the operation's.)
func parameters(item *openapi3.PathItem, o *openapi3.Operation) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, list := range []openapi3.Parameters{item.Parameters, o.Parameters} {
		for _, r := range list {
			if r == nil || r.Value == nil {
				continue
			}
			p := r.Value
			i := slices.IndexFunc(out, func(q *openapi3.Parameter) bool { return q.Name == p.Name && q.In == p.In })
			if i >= 0 {
				out[i] = p
			} else {
				out = append(out, p)
			}
		}
	}
	return out
}

// paramType is Dify's _get_tool_parameter_type: integer and number are
// numbers, boolean a boolean, anything else a string.
func paramType(s *openapi3.Schema) tools.ParamType {
	switch {
	case s.Type.Is("integer"), s.Type.Is("number"):
		return tools.TypeNumber
	case s.Type.Is("boolean"):
		return tools.TypeBoolean
	}
	return tools.TypeString
}

// contentType picks the request body's content type: Dify takes the
// document's first; kin-openapi keeps no order of media types, so JSON is
// preferred, then the first by name.
func contentType(c openapi3.Content) string {
	if _, ok := c["application/json"]; ok {
		return "application/json"
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[0]
}

var notIDChar = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// operationID is Dify's id for an operation without one: the path without
// its leading slash and characters outside [a-zA-Z0-9_-], then _<method>;
// a path left empty becomes a random UUID.
func operationID(path, method string) string {
	p := notIDChar.ReplaceAllString(strings.TrimPrefix(path, "/"), "")
	if p == "" {
		p = uuid.NewString()
	}
	return p + "_" + method
}

// inOrder returns m's keys in document order when their origins are known
// (YAML and JSON documents decoded with origins), else by name.
func inOrder[V any](m map[string]V, origin func(V) *openapi3.Origin) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	pos := func(k string) (int, int, bool) {
		o := origin(m[k])
		if o == nil || o.Key == nil {
			return 0, 0, false
		}
		return o.Key.Line, o.Key.Column, true
	}
	slices.SortFunc(keys, func(a, b string) int {
		la, ca, oka := pos(a)
		lb, cb, okb := pos(b)
		if oka && okb {
			if c := cmp.Compare(la, lb); c != 0 {
				return c
			}
			if c := cmp.Compare(ca, cb); c != 0 {
				return c
			}
		}
		return strings.Compare(a, b)
	})
	return keys
}
