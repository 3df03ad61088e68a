//go:build !race

package code

// raceFactor scales a JavaScript worker's memory limit (see race_on.go).
const raceFactor = 1
