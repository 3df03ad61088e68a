package jsonrepair

import "sort"

// textIndex makes json_repair's forward scans cheap. The parser looks
// ahead for the next unescaped quote, colon or brace at many places, and
// on text that lacks one (an unclosed string full of commas) Python's
// json_repair rescans to the end each time: quadratic, minutes for 200 KB.
// The answers are the same, from tables built once in linear time.
type textIndex struct {
	s []rune
	// slashes[j] is the number of consecutive backslashes ending at j.
	slashes []int32
	// spaces[j] is the length of the run of whitespace starting at j.
	spaces []int32
	// occ lists the positions of a character; good[k] is the first k' >= k
	// whose occurrence is not escaped by the backslashes before it.
	occ, good map[rune][]int32
}

func (p *parser) lookahead() *textIndex {
	if p.idx == nil {
		n := len(p.s)
		x := &textIndex{s: p.s, slashes: make([]int32, n), spaces: make([]int32, n), occ: map[rune][]int32{}, good: map[rune][]int32{}}
		for j, c := range p.s {
			if c == '\\' {
				x.slashes[j] = 1
				if j > 0 {
					x.slashes[j] += x.slashes[j-1]
				}
			}
		}
		for j := n - 1; j >= 0; j-- {
			if isSpace(p.s[j]) {
				x.spaces[j] = 1
				if j+1 < n {
					x.spaces[j] += x.spaces[j+1]
				}
			}
		}
		p.idx = x
	}
	return p.idx
}

// escapedBy is the number of backslashes right before j, from from on.
func (x *textIndex) escapedBy(j, from int) int {
	if j == 0 || j <= from {
		return 0
	}
	return min(int(x.slashes[j-1]), j-from)
}

// next is the position of the first occurrence of t at or after from
// that is not escaped (backslashes counted from from on), or len(s).
func (x *textIndex) next(t rune, from int) int {
	occ, ok := x.occ[t]
	if !ok {
		for j, c := range x.s {
			if c == t {
				occ = append(occ, int32(j))
			}
		}
		good := make([]int32, len(occ)+1)
		good[len(occ)] = int32(len(occ))
		for k := len(occ) - 1; k >= 0; k-- {
			good[k] = good[k+1]
			if x.escapedBy(int(occ[k]), 0)%2 == 0 {
				good[k] = int32(k)
			}
		}
		x.occ[t], x.good[t] = occ, good
	}
	k := sort.Search(len(occ), func(k int) bool { return int(occ[k]) >= from })
	if k == len(occ) {
		return len(x.s)
	}
	// Only the first candidate's run of backslashes can reach back past
	// from; any later one has the first between it and from.
	if x.escapedBy(int(occ[k]), from)%2 == 0 {
		return int(occ[k])
	}
	if g := x.good[t][k+1]; int(g) < len(occ) {
		return int(occ[g])
	}
	return len(x.s)
}
