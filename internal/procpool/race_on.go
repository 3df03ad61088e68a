//go:build race

package procpool

// raceFactor scales a worker's memory limit: a worker built
// with the race detector (a test binary) needs several times the memory
// for the detector's shadow state.
const raceFactor = 8
