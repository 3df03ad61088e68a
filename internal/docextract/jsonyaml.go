package docextract

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// jsonText is Dify's _extract_text_from_json: json.loads, then
// json.dumps(indent=2, ensure_ascii=False). Key order, duplicate keys
// (the first place, the last value) and every digit of an integer are
// Python's.
func jsonText(b []byte) (string, error) {
	v, err := pyjson.Loads(decodeAny(b))
	if err != nil {
		return "", err
	}
	return pyjson.DumpsIndent(v, 2, false), nil
}

// maxYAMLNodes bounds the values one YAML file may expand to (aliases
// count every time they are used), against "billion laughs" documents.
const maxYAMLNodes = 1_000_000

// yamlText is Dify's _extract_text_from_yaml: every document loaded with
// PyYAML's safe_load_all (YAML 1.1 scalars) and written back with
// dump_all(allow_unicode=True, sort_keys=False).
func yamlText(b []byte) (string, error) {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(decodeAny(b))))
	var docs []any
	budget := maxYAMLNodes
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		v, err := yamlValue(&n, &budget, 0)
		if err != nil {
			return "", err
		}
		docs = append(docs, v)
	}
	return dumpYAML(docs), nil
}

// ymap is a YAML mapping in document order.
type ymap struct {
	keys, vals []any
}

func yamlValue(n *yaml.Node, budget *int, depth int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("%w: more than %d YAML nodes", ErrTooLarge, maxYAMLNodes)
	}
	if depth > 1000 {
		return nil, errors.New("maximum recursion depth exceeded")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlValue(n.Content[0], budget, depth+1)
	case yaml.AliasNode:
		return yamlValue(n.Alias, budget, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c, budget, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		m := &ymap{}
		index := map[any]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := yamlValue(n.Content[i], budget, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := yamlValue(n.Content[i+1], budget, depth+1)
			if err != nil {
				return nil, err
			}
			key := k
			switch k.(type) {
			case []any, *ymap:
				return nil, errors.New("found unhashable key")
			}
			if j, ok := index[key]; ok {
				m.vals[j] = v
				continue
			}
			index[key] = len(m.keys)
			m.keys = append(m.keys, k)
			m.vals = append(m.vals, v)
		}
		return m, nil
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value, nil
	}
	switch n.Tag {
	case "!!str", "!!binary":
		if n.Style&yaml.TaggedStyle != 0 {
			return n.Value, nil
		}
	}
	return run.ResolvePlainYAML(n.Value)
}
