// Package py holds Python value semantics: how CPython/Dify's Python code
// prints, compares, truth-tests and parses values, for Dify parity.
//
// Values are the engine's closed set (nil, bool, int64, float64, string,
// []any and map[string]any; int is read as int64) plus any Mapping, which
// Python would see as a dict. Python's int and float stay apart (int64 and
// float64) because Python prints them differently ("5" and "5.0").
//
// The package imports only the standard library, so that every other
// package may use it.
package py
