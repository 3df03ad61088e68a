package openapi

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// ErrTypeParameterValidation is Dify's ToolParameterValidationError: a
// required parameter is missing.
const ErrTypeParameterValidation = "ToolParameterValidationError"

// httpMethods are the methods Dify's ApiTool sends.
var httpMethods = map[string]string{
	"get": http.MethodGet, "head": http.MethodHead, "post": http.MethodPost,
	"put": http.MethodPut, "delete": http.MethodDelete, "patch": http.MethodPatch,
}

func paramError(format string, a ...any) error {
	return &tools.Error{Type: ErrTypeParameterValidation, Err: fmt.Errorf(format, a...)}
}

// request builds op's HTTP request from args as Dify's ApiTool does:
// required parameters checked (their defaults filled in), path parameters
// substituted, query, header and cookie parameters set, body properties
// converted by type and encoded as the body's content type says, and the
// credentials' header added.
func (p *Provider) request(ctx context.Context, op *operation, args map[string]any) (*http.Request, error) {
	method, ok := httpMethods[op.method]
	if !ok {
		return nil, fmt.Errorf("Invalid http method %s", op.method) //nolint:staticcheck // Dify's text
	}
	args = maps.Clone(args)
	if args == nil {
		args = map[string]any{}
	}
	for _, prm := range op.required {
		if _, ok := args[prm.Name]; !ok {
			if prm.Default == nil {
				return nil, paramError("Missing required parameter %s", prm.Name)
			}
			args[prm.Name] = prm.Default
		}
	}
	h := http.Header{}
	p.auth.apply(h)
	target := op.url
	var query, cookies []string
	for _, prm := range op.params {
		v, ok := args[prm.Name]
		if !ok {
			if prm.Required {
				return nil, paramError("Missing required parameter %s", prm.Name)
			}
			v = ""
			if prm.Schema != nil && prm.Schema.Value != nil && prm.Schema.Value.Default != nil {
				v = prm.Schema.Value.Default
			}
		}
		switch prm.In {
		case "path":
			// Dify substitutes the value as it is; flowrun escapes it, so
			// that a value cannot change the path's shape.
			target = strings.ReplaceAll(target, "{"+prm.Name+"}", url.PathEscape(py.Str(v)))
		case "query":
			if s, isStr := v.(string); !isStr || s != "" {
				query = appendQuery(query, prm.Name, v)
			}
		case "cookie":
			cookies = append(cookies, prm.Name+"="+py.Str(v))
		case "header":
			h.Set(prm.Name, py.Str(v))
		}
	}
	var body io.Reader
	if op.bodyType != "" {
		b, err := encodeBody(op, args)
		if err != nil {
			return nil, err
		}
		h.Set("Content-Type", op.bodyType)
		body = strings.NewReader(b)
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, tools.InvokeErrorf("invalid URL %q: %v", target, err)
	}
	if len(query) > 0 {
		if u.RawQuery != "" {
			query = append([]string{u.RawQuery}, query...)
		}
		u.RawQuery = strings.Join(query, "&")
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, tools.InvokeErrorf("%w", err)
	}
	if len(cookies) > 0 {
		h.Set("Cookie", strings.Join(cookies, "; "))
	}
	req.Header = h
	return req, nil
}

// appendQuery adds name=v as httpx encodes params: true and false in
// lower case, None empty, a list as one pair per item.
func appendQuery(q []string, name string, v any) []string {
	if l, ok := v.([]any); ok {
		for _, e := range l {
			q = appendQuery(q, name, e)
		}
		return q
	}
	var s string
	switch x := v.(type) {
	case nil:
	case bool:
		s = "false"
		if x {
			s = "true"
		}
	default:
		s = py.Str(v)
	}
	return append(q, url.QueryEscape(name)+"="+url.QueryEscape(s))
}

// encodeBody builds the request body from the body properties: JSON for
// application/json (Python's json.dumps), a form for anything else.
func encodeBody(op *operation, args map[string]any) (string, error) {
	obj := pyjson.NewObject()
	for _, prop := range op.bodyProps {
		v, ok := args[prop.name]
		switch {
		case ok:
			if binary(prop) {
				return "", tools.InvokeErrorf("parameter %s is a file upload (format: binary), which flowrun's OpenAPI tools do not send", prop.name)
			}
			if prop.schema != nil && prop.schema.Ref != "" {
				obj.Set(prop.name, v)
			} else {
				obj.Set(prop.name, convert(schemaOf(prop), v))
			}
		case op.bodyRequired[prop.name]:
			return "", paramError("Missing required parameter %s in operation %s", prop.name, op.id)
		case schemaOf(prop) != nil && schemaOf(prop).Default != nil:
			obj.Set(prop.name, schemaOf(prop).Default)
		}
	}
	if op.bodyType == "application/json" {
		return pyjson.Dumps(obj, true), nil
	}
	pairs := make([]string, 0, obj.Len())
	for _, k := range obj.Keys() {
		v, _ := obj.Get(k)
		pairs = append(pairs, url.QueryEscape(k)+"="+url.QueryEscape(py.Str(v)))
	}
	return strings.Join(pairs, "&"), nil
}

// schemaOf is a body property's schema (nil when unresolved).
func schemaOf(p property) *openapi3.Schema {
	if p.schema == nil {
		return nil
	}
	return p.schema.Value
}

// binary reports a file property: format binary, or an array of them.
func binary(p property) bool {
	s := schemaOf(p)
	if s == nil {
		return false
	}
	if s.Type.Is("array") && s.Items != nil && s.Items.Value != nil && s.Items.Value.Format == "binary" {
		return true
	}
	return s.Format == "binary"
}
