// Package methods provides built-in method implementations for template types.
package methods

import "github.com/flowrun/flowrun/internal/third_party/gonja/exec"

var All = exec.Methods{
	Bool:  boolMethods,
	Str:   strMethods,
	Int:   intMethods,
	Float: floatMethods,
	Dict:  dictMethods,
	List:  listMethods,
}
