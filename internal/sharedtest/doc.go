// Package sharedtest holds test helpers that import nothing from flowrun,
// so that the tests of every package can use them, including the
// in-package tests of internal/run (which cannot import run/runtest, since
// it imports run): a Recorder of values received from concurrent
// goroutines, builders of workflow documents (Graph in YAML, Chain in
// JSON), and JSON and EqualLines for assertions.
//
// Only _test.go files and other test-support packages import it.
package sharedtest
