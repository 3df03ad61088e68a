package main

import (
	"os"
	"testing"

	"github.com/flowrun/flowrun/internal/nodes/code"
)

// TestMain lets this test binary serve as the JavaScript code workers
// that runMain's code runner starts, as the api binary does.
func TestMain(m *testing.M) {
	code.WorkerMain()
	os.Exit(m.Run())
}
