//go:build !race

package procpool

// raceFactor scales a worker's memory limit (see race_on.go).
const raceFactor = 1
