package gonja

import "github.com/flowrun/flowrun/internal/third_party/gonja/config"

type Config config.Config

var NewConfig = config.New
