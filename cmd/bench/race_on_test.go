//go:build race

package main

// raceEnabled: the test binary runs with the race detector, so the smoke
// test builds the api and persister with -race too (their packages are
// then already in the build cache from `go test -race ./...`).
const raceEnabled = true
