package run

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// decodeYAML decodes a YAML (or JSON) document into engine values (see
// Normalize), within lim and in time linear in its size. Plain scalars
// are resolved as Dify's PyYAML resolves them (resolvePlain); quoted and
// block scalars are strings, and explicitly tagged ones are resolved by
// yaml.v3.
//
// yaml.v3's own decoding into interface values checks each mapping for
// duplicate keys by comparing every key with every later one: a mapping of
// 100,000 keys takes minutes. Here the document is parsed into yaml.Nodes,
// which is linear, and refused if it is over a limit; yaml.v3 then
// resolves all the scalars in one pass over a sequence of them (a sequence
// has no key check, and the resolution rules stay yaml.v3's own), and the
// mappings are assembled here, with duplicate keys found through the map.
// Anchors and aliases work as in yaml.v3 (an alias is a copy of its
// anchor's value, counted against MaxYAMLNodes each time), as do merge
// keys (<<), whose entries never replace the mapping's own.
func decodeYAML(data []byte, lim DocLimits) (any, error) {
	return decodeYAMLScalars(data, lim, pyYAMLScalars)
}

// scalarRules says how decodeYAMLScalars resolves plain scalars.
type scalarRules int

const (
	// pyYAMLScalars resolves them as Dify's loader does.
	pyYAMLScalars scalarRules = iota
	// yamlV3Scalars leaves every scalar to yaml.v3, so that tests can
	// compare the decoder with yaml.v3's own decoding.
	yamlV3Scalars
)

func decodeYAMLScalars(data []byte, lim DocLimits, rules scalarRules) (any, error) {
	if n := indicators(data); n > lim.MaxYAMLNodes {
		return nil, &LimitError{Limit: LimitYAMLNodes, Max: lim.MaxYAMLNodes,
			What: fmt.Sprintf("document has %d YAML indicators (, : - ? [ {), each of which may start a YAML node", n)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDSL, err)
	}
	if doc.Kind == 0 {
		return nil, nil // an empty document
	}
	d := &yamlDecoder{lim: lim, rules: rules, memo: map[*yaml.Node]anchored{}}
	if err := d.collect(&doc, 0); err != nil {
		return nil, err
	}
	d.nodes = 0 // value counts again, expanding aliases
	seq := yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: d.scalars}
	if err := seq.Decode(&d.resolved); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDSL, err)
	}
	d.scalars = nil
	return d.value(&doc)
}

// indicators counts the bytes that can introduce a YAML node: every node
// but a document's root is a sequence entry (introduced by "-", "[" or
// ","), or a mapping key or value (introduced by ":", "?", "{" or ","), and
// each of these bytes introduces at most two (a key and its value). So a
// document holds at most 2·indicators+2 nodes, whatever its quoting,
// comments or block scalars, which can only make the count larger.
func indicators(data []byte) int {
	n := 0
	for _, c := range []byte(",:-?[{") {
		n += bytes.Count(data, []byte{c})
	}
	return n
}

// yamlDecoder turns a parsed yaml.Node tree into values in two passes over
// it in document order: collect checks the limits and gathers the scalars,
// value builds the values, taking the resolved scalars in the same order.
type yamlDecoder struct {
	lim   DocLimits
	rules scalarRules
	// nodes counts yaml.Nodes in collect, values built (aliases expanded)
	// in value.
	nodes    int
	scalars  []*yaml.Node
	resolved []any
	next     int
	// memo holds the value of every anchored node built so far.
	memo map[*yaml.Node]anchored
}

// anchored is the value of an anchored node and how many nodes it counts.
type anchored struct {
	v     any
	nodes int
}

func (d *yamlDecoder) count(n int) error {
	d.nodes += n
	if d.nodes > d.lim.MaxYAMLNodes {
		return &LimitError{Limit: LimitYAMLNodes, Max: d.lim.MaxYAMLNodes,
			What: fmt.Sprintf("document has more than %d YAML nodes", d.lim.MaxYAMLNodes)}
	}
	return nil
}

// byYAMLv3 reports whether yaml.v3 resolves scalar n: every scalar under
// yamlV3Scalars, else those with an explicit tag (!!str 1, !!binary …).
func (d *yamlDecoder) byYAMLv3(n *yaml.Node) bool {
	return d.rules == yamlV3Scalars || n.Style&yaml.TaggedStyle != 0
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && n.ShortTag() == "!!merge"
}

// collect checks n and everything under it against the limits and gathers
// the scalars to resolve. depth is the number of collections around n.
func (d *yamlDecoder) collect(n *yaml.Node, depth int) error {
	if err := d.count(1); err != nil {
		return err
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := d.collect(c, depth); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if d.byYAMLv3(n) {
			d.scalars = append(d.scalars, n)
		}
	case yaml.SequenceNode, yaml.MappingNode:
		if depth >= d.lim.MaxDepth {
			return &LimitError{Limit: LimitDepth, Max: d.lim.MaxDepth,
				What: fmt.Sprintf("document nests more than %d levels deep at line %d", d.lim.MaxDepth, n.Line)}
		}
		if n.Kind == yaml.MappingNode && len(n.Content)/2 > d.lim.MaxMappingKeys {
			return &LimitError{Limit: LimitMappingKeys, Max: d.lim.MaxMappingKeys,
				What: fmt.Sprintf("the mapping at line %d has %d keys", n.Line, len(n.Content)/2)}
		}
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 && isMergeKey(c) {
				continue
			}
			if err := d.collect(c, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// value builds the value of n, counting every node built against
// MaxYAMLNodes again, aliases as often as they are expanded.
func (d *yamlDecoder) value(n *yaml.Node) (v any, err error) {
	if n.Kind == yaml.AliasNode {
		a, ok := d.memo[n.Alias]
		if !ok {
			return nil, fmt.Errorf("%w: line %d: anchor %q is used inside its own value", ErrInvalidDSL, n.Line, n.Value)
		}
		if err := d.count(a.nodes); err != nil {
			return nil, err
		}
		return deepCopy(a.v), nil
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, nil
		}
		return d.value(n.Content[0])
	}
	before := d.nodes
	if err := d.count(1); err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch {
		case d.byYAMLv3(n):
			v = Normalize(d.resolved[d.next])
			d.next++
		case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			v = n.Value
		default:
			if v, err = resolvePlain(n.Value); err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrInvalidDSL, n.Line, err)
			}
		}
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, c := range n.Content {
			if list[i], err = d.value(c); err != nil {
				return nil, err
			}
		}
		v = list
	case yaml.MappingNode:
		if v, err = d.mapping(n); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: line %d: unexpected YAML node", ErrInvalidDSL, n.Line)
	}
	if n.Anchor != "" {
		d.memo[n] = anchored{v: v, nodes: d.nodes - before}
	}
	return v, nil
}

// mapping builds a mapping's value. Keys become strings as Normalize makes
// them; two keys that become the same string are a duplicate, as two
// equal keys are in yaml.v3.
func (d *yamlDecoder) mapping(n *yaml.Node) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	var merged []any
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if isMergeKey(kn) {
			// Built in place (document order), applied after the
			// mapping's own keys.
			mv, err := d.value(vn)
			if err != nil {
				return nil, err
			}
			merged = append(merged, mv)
			continue
		}
		kv, err := d.value(kn)
		if err != nil {
			return nil, err
		}
		key, ok := keyString(kv)
		if !ok {
			return nil, fmt.Errorf("%w: line %d: a mapping key must be a scalar", ErrInvalidDSL, kn.Line)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%w: line %d: mapping key %q already defined", ErrInvalidDSL, kn.Line, key)
		}
		if out[key], err = d.value(vn); err != nil {
			return nil, err
		}
	}
	for _, mv := range merged {
		sources := []any{mv}
		if list, ok := mv.([]any); ok {
			sources = list
		}
		for _, src := range sources {
			m, ok := src.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: line %d: map merge requires map or sequence of maps as the value", ErrInvalidDSL, n.Line)
			}
			for k, v := range m {
				if _, set := out[k]; !set {
					out[k] = v
				}
			}
		}
	}
	return out, nil
}

// keyString is the map key a scalar key becomes (see Normalize).
func keyString(v any) (string, bool) {
	switch k := v.(type) {
	case string:
		return k, true
	case nil:
		return "null", true // as json.dumps writes a None key
	case []any, map[string]any:
		return "", false
	default:
		return fmt.Sprint(k), true
	}
}
