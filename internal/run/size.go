package run

import (
	"reflect"
	"unsafe"
)

// Sizer estimates how many bytes of memory values and events hold, for
// limits expressed in bytes: the kept run history, the buffer of a slow
// stream. The estimate is cheap — it visits values but never encodes them —
// and errs high rather than low: a string counts its bytes and header,
// a number a word, every element of a list, map or Vars its slot, every
// event a fixed allowance for its structs and ids.
//
// Events share values as a rule (a node's inputs are another node's
// outputs; a run's inputs reappear in the start node's inputs and
// outputs), so a Sizer counts a string, list or map of ShareMin bytes or
// elements or more only the first time it meets it. Use one Sizer per set
// of values whose sharing should count once (one run, one stream). The
// zero Sizer is ready to use; it is not safe for concurrent use.
type Sizer struct {
	seen map[shareKey]struct{}
}

// ShareMin is the size (bytes of a string, elements of a list or map)
// from which a Sizer counts a value once however often it meets it.
// Smaller values are counted every time: deduplicating them would cost
// more than they weigh.
const ShareMin = 1024

// Allowances of the estimate, in bytes (64-bit layouts).
const (
	sizeWord = 8
	// sizeIface is an interface value: a list element or map value.
	sizeIface = 16
	// sizeStr is a string header.
	sizeStr = 16
	// sizeSlice is a slice header.
	sizeSlice = 24
	// sizeMap is a map of up to mapGroup entries: its header and first
	// group of slots (a map[string]any slot is 32 bytes).
	sizeMap  = 48 + mapGroup*32 + 8
	mapGroup = 8
	// sizeMapEntry is each further entry, with its share of empty slots
	// and control bytes.
	sizeMapEntry = 80
	// sizeVar is one element of Vars (name and value).
	sizeVar = sizeStr + sizeIface
	// sizeRecord covers the structs of an event with a run or node record
	// (Event, RunInfo or NodeRun) and their ids and names.
	sizeRecord = 512
	// sizeSmallEvent covers a text_chunk or *_next event's structs.
	sizeSmallEvent = 160
)

// shareKey identifies a shared backing array or map (n tells apart
// slices of one array that differ in length).
type shareKey struct {
	p unsafe.Pointer
	n int
}

// shared reports whether the value at p of size n was met before, and
// records it. Values under ShareMin are never recorded.
func (s *Sizer) shared(p unsafe.Pointer, n int) bool {
	if n < ShareMin || p == nil {
		return false
	}
	k := shareKey{p, n}
	if _, ok := s.seen[k]; ok {
		return true
	}
	if s.seen == nil {
		s.seen = make(map[shareKey]struct{})
	}
	s.seen[k] = struct{}{}
	return false
}

// Size estimates the memory v holds, alone.
func Size(v any) int64 {
	var s Sizer
	return s.Value(v)
}

// Value estimates the memory v holds, not counting the interface slot
// that holds it, nor shared values already counted by s.
func (s *Sizer) Value(v any) int64 {
	switch x := v.(type) {
	case nil, bool:
		return 0
	case string:
		return s.str(x)
	case int64, float64, int:
		return sizeWord
	case []any:
		n := int64(sizeSlice)
		if len(x) == 0 || s.shared(unsafe.Pointer(&x[0]), len(x)) {
			return n
		}
		n += int64(len(x)) * sizeIface
		for _, el := range x {
			n += s.Value(el)
		}
		return n
	case map[string]any:
		n := int64(sizeMap)
		if len(x) >= ShareMin && s.shared(reflect.ValueOf(x).UnsafePointer(), 0) {
			return n
		}
		n += int64(max(0, len(x)-mapGroup)) * sizeMapEntry
		for k, el := range x {
			n += int64(len(k)) + s.Value(el)
		}
		return n
	case Vars:
		return s.Vars(x)
	case []string:
		n := int64(sizeSlice) + int64(len(x))*sizeStr
		for _, e := range x {
			n += int64(len(e))
		}
		return n
	}
	// Not an engine value; count a generous constant rather than reflect.
	return sizeRecord
}

// str counts a string's bytes, unless it is a shared one already counted.
func (s *Sizer) str(x string) int64 {
	if s.shared(unsafe.Pointer(unsafe.StringData(x)), len(x)) {
		return sizeStr
	}
	return sizeStr + int64(len(x))
}

// Vars estimates the memory vs holds.
func (s *Sizer) Vars(vs Vars) int64 {
	if vs == nil {
		return 0
	}
	n := int64(sizeSlice) + int64(len(vs))*sizeVar
	for _, v := range vs {
		n += int64(len(v.Name)) + s.Value(v.Value)
	}
	return n
}

// Event estimates the memory e holds: its structs and every value it
// carries.
func (s *Sizer) Event(e *Event) int64 {
	switch {
	case e.Run != nil:
		r := e.Run
		return sizeRecord + int64(len(r.UserID)+len(r.Error)) + s.Vars(r.Inputs) + s.Vars(r.Outputs)
	case e.Node != nil:
		n := e.Node
		size := sizeRecord + int64(len(n.Error)+len(n.Title)+len(n.NodeID)) +
			s.Vars(n.Inputs) + s.Vars(n.ProcessData) + s.Vars(n.Outputs)
		if n.Metadata != nil {
			size += s.Value(n.Metadata)
		}
		return size
	case e.Chunk != nil:
		return sizeSmallEvent + s.str(e.Chunk.Text) + s.Value([]string(e.Chunk.Selector))
	case e.Log != nil:
		l := e.Log
		return sizeSmallEvent + int64(len(l.ID)+len(l.Label)+len(l.ParentID)+len(l.Error)) + s.Value(l.Data) + s.Value(l.Metadata)
	}
	return sizeSmallEvent
}
