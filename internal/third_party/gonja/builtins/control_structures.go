package builtins

import controlStructures "github.com/flowrun/flowrun/internal/third_party/gonja/builtins/control_structures"

// ControlStructures exports all builtins controlStructures
var ControlStructures = controlStructures.All
