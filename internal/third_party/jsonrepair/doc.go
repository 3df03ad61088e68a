// Package jsonrepair is a Go port of the Python library json_repair
// (github.com/mangiucugna/json_repair, version 0.55.1, MIT license in
// LICENSE), which Dify's http-request node runs on a JSON body before it
// parses it. Repair gives what Dify sends for a body text: the same
// repairs, decided by the same heuristics in the same order (the parser's
// functions keep json_repair's names and structure: parseObject,
// parseArray, parseString, parseNumber, parseComment), encoded as httpx
// encodes a JSON body.
//
// Only what Dify calls is ported: repair_json(s) with its defaults (no
// strict mode, no streaming, no schema). Differences: the look-ahead scans
// use tables built once (index.go), so a repair takes time linear in the
// text where json_repair can take quadratic time; and nesting deeper than
// MaxDepth fails where Python raises RecursionError somewhat earlier.
//
// testdata holds, for the inputs of json_repair's own test suite and for
// random edits of them, what Python's json_repair 0.55.1 gives; the tests
// check that Repair gives the same.
package jsonrepair
