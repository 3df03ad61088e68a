package jsonrepair

import (
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
)

// MaxDepth bounds the nesting of arrays and objects Repair follows (Python
// stops at its recursion limit, about 1,000).
const MaxDepth = 1000

// errBudget aborts a repair that goes past its step or depth budget.
var errBudget = errors.New("jsonrepair: input too complex")

// Repair repairs s as Dify's http-request node does with a JSON body:
// json.loads(repair_json(s), strict=False). It returns the value as httpx
// sends it (json.dumps(value, ensure_ascii=False, separators=(",", ":"))),
// or ok false where Dify's json.loads fails: nothing in s could be made
// into JSON ("", "abc", "}"), or s is the JSON string "".
//
// Valid JSON is only re-encoded, as json_repair returns json.loads' value.
// Anything else goes through the port of json_repair's parser.
func Repair(s string) (body []byte, ok bool) {
	if v, valid := decodeStrict(s); valid {
		if v == "" {
			return nil, false
		}
		return appendJSON(nil, v), true
	}
	v, err := repair(s)
	if err != nil || v == "" {
		return nil, false
	}
	return appendJSON(nil, v), true
}

func repair(s string) (v any, err error) {
	p := &parser{s: []rune(s)}
	p.maxSteps = 64*len(p.s) + 4096
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); !ok || !errors.Is(e, errBudget) {
				panic(r)
			}
			v, err = nil, errBudget
		}
	}()
	return p.parse(), nil
}

// tick counts one step of a parsing loop: json_repair's loops always end,
// and the budget turns any that would not (a bug here) into a failure.
func (p *parser) tick() {
	p.steps++
	if p.steps > p.maxSteps {
		panic(errBudget)
	}
}

func (p *parser) enter() {
	p.depth++
	if p.depth > MaxDepth {
		panic(errBudget)
	}
}

func (p *parser) leave() { p.depth-- }

// decodeStrict is Python's json.loads(s) (strict): ok false if s is not
// valid JSON. Numbers with a fraction or exponent are floats, others ints;
// a repeated key keeps its first place and its last value.
func decodeStrict(s string) (any, bool) {
	if !json.Valid([]byte(s)) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := strictValue(dec, 0)
	if err != nil {
		return nil, false
	}
	return v, true
}

func strictValue(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, errBudget
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			list := []any{}
			for dec.More() {
				e, err := strictValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, e)
			}
			_, err := dec.Token()
			return list, err
		}
		obj := newObject()
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			e, err := strictValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			obj.set(k.(string), e)
		}
		_, err := dec.Token()
		return obj, err
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			f, ok := pyFloatParse(string(t))
			if !ok {
				return nil, io.ErrUnexpectedEOF
			}
			return f, nil
		}
		n, _ := new(big.Int).SetString(string(t), 10)
		return pyInt(n.String()), nil
	}
	return tok, nil // string, bool, nil
}
