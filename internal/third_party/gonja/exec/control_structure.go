package exec

import (
	"github.com/flowrun/flowrun/internal/third_party/gonja/nodes"
)

type ControlStructure interface {
	nodes.ControlStructure
	Execute(*Renderer, *nodes.ControlStructureBlock) error
}
