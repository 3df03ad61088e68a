package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/flowrun/flowrun/internal/knowledge"
)

// knowledgeFileName is the knowledge configuration looked for in
// APPS_DIR when KNOWLEDGE_FILE is not set.
const knowledgeFileName = "knowledge.yaml"

// knowledgeRegistry reads the knowledge configuration (KNOWLEDGE_FILE,
// else APPS_DIR/knowledge.yaml when it exists; no dataset when neither)
// and builds the datasets knowledge-retrieval nodes query through dial,
// the http-request node's SSRF guard. Every problem in the file is a
// startup error naming its entry.
func knowledgeRegistry(file, appsDir string, dial func(context.Context, string, string) (net.Conn, error), timeout time.Duration, maxBytes int64) (*knowledge.Registry, error) {
	path, err := configFile(file, appsDir, knowledgeFileName)
	if err != nil {
		return nil, err
	}
	var cfg *knowledge.Config
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("configuration: KNOWLEDGE_FILE: %w", err)
		}
		if cfg, err = knowledge.ParseConfig(data, os.LookupEnv); err != nil {
			return nil, fmt.Errorf("configuration: %s: %w", path, err)
		}
	}
	kr, err := knowledge.New(cfg, knowledge.Options{Dial: dial, Timeout: timeout, MaxResponseBytes: maxBytes})
	if err != nil {
		return nil, fmt.Errorf("configuration: %s: %w", path, err)
	}
	return kr, nil
}
