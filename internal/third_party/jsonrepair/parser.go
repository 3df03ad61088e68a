package jsonrepair

import (
	"strings"
	"unicode"
)

// Contexts of the parser (json_repair's ContextValues).
type contextValue int

const (
	objectKey contextValue = iota + 1
	objectValue
	array
)

// jsonContext is json_repair's JsonContext: a stack of where the parser is.
type jsonContext struct {
	stack   []contextValue
	current contextValue // 0 when empty
}

func (c *jsonContext) set(v contextValue) {
	c.stack = append(c.stack, v)
	c.current = v
}

func (c *jsonContext) reset() {
	if len(c.stack) > 0 {
		c.stack = c.stack[:len(c.stack)-1]
	}
	c.current = 0
	if len(c.stack) > 0 {
		c.current = c.stack[len(c.stack)-1]
	}
}

func (c *jsonContext) empty() bool { return len(c.stack) == 0 }

func (c *jsonContext) has(v contextValue) bool {
	for _, x := range c.stack {
		if x == v {
			return true
		}
	}
	return false
}

// none is the absence of a character (Python's None from get_char_at).
const none rune = -1

// parser is json_repair's JSONParser over a string of code points.
type parser struct {
	s       []rune
	index   int
	context jsonContext
	// steps and depth bound the work on hostile input (see tick, enter).
	steps, maxSteps, depth int
	// idx answers skipTo and scrollWhitespaces without rescanning s; nil
	// until needed, and again whenever s changes.
	idx *textIndex
}

func isStringDelimiter(c rune) bool {
	return c == '"' || c == '\'' || c == '“' || c == '”'
}

// isSpace is Python's str.isspace for one character.
func isSpace(c rune) bool {
	return c >= 0 && (unicode.IsSpace(c) || (c >= 0x1c && c <= 0x1f))
}

func isAlpha(c rune) bool { return c >= 0 && unicode.IsLetter(c) }

func isAlnum(c rune) bool { return c >= 0 && (unicode.IsLetter(c) || unicode.IsNumber(c)) }

func isDigit(c rune) bool { return c >= 0 && unicode.IsDigit(c) }

// at is get_char_at: the character count places from the index, with
// Python's indexing (a negative position counts from the end), or none.
func (p *parser) at(count int) rune {
	i := p.index + count
	if i < 0 {
		i += len(p.s)
	}
	if i < 0 || i >= len(p.s) {
		return none
	}
	return p.s[i]
}

func (p *parser) skipWhitespaces() {
	for p.index < len(p.s) && isSpace(p.s[p.index]) {
		p.index++
	}
}

// scrollWhitespaces returns the offset of the first non-space character
// at or after index+idx.
func (p *parser) scrollWhitespaces(idx int) int {
	i := p.index + idx
	if i < 0 || i >= len(p.s) {
		return idx
	}
	return idx + int(p.lookahead().spaces[i])
}

// skipTo returns the offset from the index of the first unescaped target
// at or after index+idx, or the distance to the end. A target is escaped
// by an odd run of backslashes before it, counted from index+idx on.
func (p *parser) skipTo(targets string, idx int) int {
	from := p.index + idx
	best := len(p.s)
	if from < 0 {
		from = 0 // as Python's slice would start
	}
	for _, t := range targets {
		if j := p.lookahead().next(t, from); j < best {
			best = j
		}
	}
	return best - p.index
}

func (p *parser) parse() any {
	v := p.parseJSON()
	if p.index < len(p.s) {
		list := []any{v}
		for p.index < len(p.s) {
			p.context.reset()
			j := p.parseJSON()
			if truthy(j) {
				if sameObject(list[len(list)-1], j) {
					list = list[:len(list)-1]
				} else if !truthy(list[len(list)-1]) {
					list = list[:len(list)-1]
				}
				list = append(list, j)
			} else {
				p.index++
			}
		}
		if len(list) == 1 {
			return list[0]
		}
		return list
	}
	return v
}

func (p *parser) parseJSON() any {
	for {
		p.tick()
		c := p.at(0)
		switch {
		case c == none:
			return ""
		case c == '{':
			p.index++
			return p.parseObject()
		case c == '[':
			p.index++
			return p.parseArray()
		case !p.context.empty() && (isStringDelimiter(c) || isAlpha(c)):
			return p.parseString()
		case !p.context.empty() && (isDigit(c) || c == '-' || c == '.'):
			return p.parseNumber()
		case c == '#' || c == '/':
			return p.parseComment()
		default:
			p.index++
		}
	}
}

func (p *parser) parseArray() any {
	p.enter()
	defer p.leave()
	arr := []any{}
	p.context.set(array)
	c := p.at(0)
	for c != none && c != ']' && c != '}' {
		p.tick()
		p.skipWhitespaces()
		var value any = ""
		if isStringDelimiter(c) {
			// A string followed by ':' is an object whose '{' is missing.
			i := p.skipTo(string(c), 1)
			i = p.scrollWhitespaces(i + 1)
			if p.at(i) == ':' {
				value = p.parseObject()
			} else {
				value = p.parseString()
			}
		} else {
			value = p.parseJSON()
		}
		if strictlyEmpty(value) && p.at(0) != ']' && p.at(0) != ',' {
			p.index++
		} else if value == "..." && p.at(-1) == '.' {
			// a stray "..." is dropped
		} else {
			arr = append(arr, value)
		}
		c = p.at(0)
		for c != none && c != ']' && (isSpace(c) || c == ',') {
			p.index++
			c = p.at(0)
		}
	}
	p.index++
	p.context.reset()
	return arr
}

func (p *parser) parseObject() any {
	p.enter()
	defer p.leave()
	obj := newObject()
	start := p.index
	for p.at(0) != none && p.at(0) != '}' {
		p.tick()
		p.skipWhitespaces()
		if p.at(0) == ':' {
			p.index++
		}
		p.context.set(objectKey)
		rollback := p.index
		key := ""
		for p.at(0) != none {
			p.tick()
			rollback = p.index
			if p.at(0) == '[' && key == "" {
				// An array after an array value continues it.
				if prev := obj.lastKey(); prev != nil && *prev != "" {
					if prevArr, ok := obj.get(*prev).([]any); ok {
						p.index++
						newArr := p.parseArray()
						if na, ok := newArr.([]any); ok {
							if len(na) == 1 {
								if inner, ok := na[0].([]any); ok {
									na = inner
								}
							}
							obj.set(*prev, append(prevArr, na...))
							p.skipWhitespaces()
							if p.at(0) == ',' {
								p.index++
							}
							p.skipWhitespaces()
							continue
						}
					}
				}
			}
			raw := p.parseString()
			key, _ = raw.(string)
			if key == "" {
				p.skipWhitespaces()
			}
			if key != "" || p.at(0) == ':' || p.at(0) == '}' {
				break
			}
		}
		if p.context.has(array) && obj.has(key) {
			// A repeated key inside an array starts the next object.
			p.index = rollback - 1
			p.s = append(p.s[:p.index+1], append([]rune{'{'}, p.s[p.index+1:]...)...)
			p.idx = nil
			break
		}
		p.skipWhitespaces()
		if p.at(0) == none || p.at(0) == '}' {
			continue
		}
		p.skipWhitespaces()
		p.index++ // the ':' (or whatever stands in its place)
		p.context.reset()
		p.context.set(objectValue)
		p.skipWhitespaces()
		var value any = ""
		if c := p.at(0); c != ',' && c != '}' {
			value = p.parseJSON()
		}
		p.context.reset()
		obj.set(key, value)
		if c := p.at(0); c == ',' || c == '\'' || c == '"' {
			p.index++
		}
		if p.at(0) == ']' && p.context.has(array) {
			p.index--
			break
		}
		p.skipWhitespaces()
	}
	p.index++

	if obj.len() == 0 && p.index-start > 2 {
		p.index = start
		return p.parseArray()
	}
	if !p.context.empty() {
		if p.at(0) == '}' && p.context.current != objectKey && p.context.current != objectValue {
			p.index++ // an extra closing brace
		}
		return obj
	}
	p.skipWhitespaces()
	if p.at(0) != ',' {
		return obj
	}
	p.index++
	p.skipWhitespaces()
	if !isStringDelimiter(p.at(0)) {
		return obj
	}
	// '{"a": 1}, "b": 2}': more members after the closing brace.
	if more, ok := p.parseObject().(*object); ok {
		obj.update(more)
	}
	return obj
}

func (p *parser) parseComment() any {
	c := p.at(0)
	term := "\n\r"
	if p.context.has(array) {
		term += "]"
	}
	if p.context.has(objectValue) {
		term += "}"
	}
	if p.context.has(objectKey) {
		term += ":"
	}
	switch {
	case c == '#':
		for c != none && !strings.ContainsRune(term, c) {
			p.index++
			c = p.at(0)
		}
	case c == '/' && p.at(1) == '/':
		p.index += 2
		c = p.at(0)
		for c != none && !strings.ContainsRune(term, c) {
			p.index++
			c = p.at(0)
		}
	case c == '/' && p.at(1) == '*':
		p.index += 2
		comment := []rune{'/', '*'}
		for {
			c = p.at(0)
			if c == none {
				break
			}
			comment = append(comment, c)
			p.index++
			if n := len(comment); comment[n-2] == '*' && comment[n-1] == '/' {
				break
			}
		}
	case c == '/':
		p.index++
	}
	if p.context.empty() {
		return p.parseJSON()
	}
	return ""
}

func (p *parser) parseNumber() any {
	var num []rune
	c := p.at(0)
	isArray := p.context.current == array
	for c != none && strings.ContainsRune("0123456789-.eE/,_", c) && (!isArray || c != ',') {
		if c != '_' {
			num = append(num, c)
		}
		p.index++
		c = p.at(0)
	}
	if isAlpha(p.at(0)) {
		// This was a string after all.
		p.index -= len(num)
		return p.parseString()
	}
	if n := len(num); n > 0 && strings.ContainsRune("-eE/,", num[n-1]) {
		num = num[:n-1]
		p.index--
	}
	return pyNumber(string(num))
}

func (p *parser) parseBooleanOrNull() any {
	c := unicode.ToLower(p.at(0))
	var word string
	var value any
	switch c {
	case 't':
		word, value = "true", true
	case 'f':
		word, value = "false", false
	default:
		word, value = "null", nil
	}
	start := p.index
	i := 0
	for c != none && i < len(word) && c == rune(word[i]) {
		i++
		p.index++
		c = p.at(0)
		if c != none {
			c = unicode.ToLower(c)
		}
	}
	if i == len(word) {
		return value
	}
	p.index = start
	return ""
}

// parseLLMBlock is parse_json_llm_block: JSON inside ```json … ```.
func (p *parser) parseLLMBlock() (any, bool) {
	if p.index+7 <= len(p.s) && string(p.s[p.index:p.index+7]) == "```json" {
		i := p.skipTo("`", 7)
		if p.index+i+3 <= len(p.s) && string(p.s[p.index+i:p.index+i+3]) == "```" {
			p.index += 7
			return p.parseJSON(), true
		}
	}
	return nil, false
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case *object:
		return x.len() > 0
	case pyInt:
		return strings.TrimLeft(string(x), "-0") != ""
	case float64:
		return x != 0
	}
	return true
}

func strictlyEmpty(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case *object:
		return x.len() == 0
	}
	return false
}

// sameObject is ObjectComparer.is_same_object: same types and structure.
func sameObject(a, b any) bool {
	switch x := a.(type) {
	case *object:
		y, ok := b.(*object)
		if !ok || x.len() != y.len() {
			return false
		}
		for _, k := range x.keys {
			if !y.has(k) || !sameObject(x.get(k), y.get(k)) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameObject(x[i], y[i]) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	case bool:
		_, ok := b.(bool)
		return ok
	case string:
		_, ok := b.(string)
		return ok
	case pyInt:
		_, ok := b.(pyInt)
		return ok
	case float64:
		_, ok := b.(float64)
		return ok
	}
	return false
}
