package builtins

import (
	methods "github.com/flowrun/flowrun/internal/third_party/gonja/builtins/methods"
	"github.com/flowrun/flowrun/internal/third_party/gonja/exec"
)

// Methods exports all builtins methods.
var Methods exec.Methods = methods.All
