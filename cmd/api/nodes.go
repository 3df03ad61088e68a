package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowrun/flowrun/internal/docextract"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/nodes/agent"
	"github.com/flowrun/flowrun/internal/nodes/code"
	"github.com/flowrun/flowrun/internal/nodes/docextractor"
	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/nodes/retrieval"
	"github.com/flowrun/flowrun/internal/nodes/tool"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools/workflowtool"
)

// nodeConfig configures the node types that reach outside the process
// (see docs/nodes.md). Names follow Dify's where Dify has one.
type nodeConfig struct {
	CodeEndpoint       string        `envconfig:"CODE_EXECUTION_ENDPOINT"`
	CodeEndpointKey    string        `envconfig:"CODE_EXECUTION_API_KEY"`
	CodeTimeout        time.Duration `envconfig:"CODE_EXECUTION_TIMEOUT" default:"15s"`
	CodePythonBinary   string        `envconfig:"CODE_PYTHON_BINARY"`
	CodePythonWorkers  int           `envconfig:"CODE_PYTHON_WORKERS" default:"0"`
	CodePythonNetwork  bool          `envconfig:"CODE_PYTHON_ALLOW_NETWORK" default:"false"`
	CodeJSPoolSize     int           `envconfig:"CODE_JS_POOL_SIZE" default:"0"`
	CodeJSMemory       int64         `envconfig:"CODE_JS_MEMORY_LIMIT" default:"0"`
	CodePythonMemory   int64         `envconfig:"CODE_PYTHON_MEMORY_LIMIT" default:"0"`
	CodePythonPreload  []string      `envconfig:"CODE_PYTHON_PRELOAD"`
	CodePythonRead     []string      `envconfig:"CODE_PYTHON_READ_PATHS"`
	CodeUnconfined     bool          `envconfig:"CODE_PYTHON_UNCONFINED" default:"false"`
	HTTPMaxConnect     int           `envconfig:"HTTP_REQUEST_MAX_CONNECT_TIMEOUT" default:"10"`
	HTTPMaxRead        int           `envconfig:"HTTP_REQUEST_MAX_READ_TIMEOUT" default:"600"`
	HTTPMaxWrite       int           `envconfig:"HTTP_REQUEST_MAX_WRITE_TIMEOUT" default:"600"`
	HTTPMaxText        int64         `envconfig:"HTTP_REQUEST_NODE_MAX_TEXT_SIZE" default:"1048576"`
	HTTPMaxBinary      int64         `envconfig:"HTTP_REQUEST_NODE_MAX_BINARY_SIZE" default:"10485760"`
	SSRFAllow          []string      `envconfig:"SSRF_ALLOW"`
	SSRFAllowPrivate   bool          `envconfig:"SSRF_ALLOW_PRIVATE_NETWORKS" default:"false"`
	LLMProviders       []string      `envconfig:"LLM_PROVIDERS"`
	LLMModelMap        string        `envconfig:"LLM_MODEL_MAP"`
	LLMDefaultProvider string        `envconfig:"LLM_DEFAULT_PROVIDER"`
	LLMTimeout         time.Duration `envconfig:"LLM_TIMEOUT" default:"0"`
	LLMIdleTimeout     time.Duration `envconfig:"LLM_IDLE_TIMEOUT" default:"0"`
	LLMConnectTimeout  time.Duration `envconfig:"LLM_CONNECT_TIMEOUT" default:"0"`
	LLMTokenCounting   bool          `envconfig:"LLM_TOKEN_COUNTING" default:"false"`
	// WorkflowCallMaxDepth bounds workflows called as tools (Dify's
	// WORKFLOW_CALL_MAX_DEPTH).
	WorkflowCallMaxDepth int `envconfig:"WORKFLOW_CALL_MAX_DEPTH" default:"5"`
	// ToolsFile is the tool configuration (docs/tools.md); default
	// APPS_DIR/tools.yaml when it exists.
	ToolsFile     string `envconfig:"TOOLS_FILE"`
	ToolMaxOutput int64  `envconfig:"TOOL_MAX_OUTPUT_BYTES" default:"16777216"`
	// KnowledgeFile is the knowledge configuration (docs/knowledge.md);
	// default APPS_DIR/knowledge.yaml when it exists.
	KnowledgeFile     string        `envconfig:"KNOWLEDGE_FILE"`
	KnowledgeTimeout  time.Duration `envconfig:"KNOWLEDGE_TIMEOUT" default:"60s"`
	KnowledgeMaxBytes int64         `envconfig:"KNOWLEDGE_MAX_RESPONSE_BYTES" default:"4194304"`
	// The chat API's own model calls (llm.Generator).
	ChatModel          string  `envconfig:"CHAT_MODEL"`
	SuggestPrompt      string  `envconfig:"SUGGESTED_QUESTIONS_PROMPT"`
	SuggestMaxTokens   int     `envconfig:"SUGGESTED_QUESTIONS_MAX_TOKENS" default:"256"`
	SuggestTemperature float64 `envconfig:"SUGGESTED_QUESTIONS_TEMPERATURE" default:"0"`
	// The document-extractor node (docs/nodes.md).
	DocWorkers     int           `envconfig:"DOCUMENT_EXTRACTOR_WORKERS" default:"2"`
	DocMemory      int64         `envconfig:"DOCUMENT_EXTRACTOR_MEMORY_LIMIT" default:"1073741824"`
	DocTimeout     time.Duration `envconfig:"DOCUMENT_EXTRACTOR_TIMEOUT" default:"60s"`
	DocMaxInput    int64         `envconfig:"DOCUMENT_EXTRACTOR_MAX_INPUT_BYTES" default:"52428800"`
	DocMaxText     int64         `envconfig:"DOCUMENT_EXTRACTOR_MAX_TEXT_BYTES" default:"16777216"`
	DocMaxEntry    int64         `envconfig:"DOCUMENT_EXTRACTOR_MAX_ENTRY_BYTES" default:"67108864"`
	DocMaxUnzipped int64         `envconfig:"DOCUMENT_EXTRACTOR_MAX_UNZIPPED_BYTES" default:"268435456"`
	DocPDFCache    string        `envconfig:"DOCUMENT_EXTRACTOR_PDF_CACHE_DIR"`
}

// registry returns the node registry with every node type flowrun
// supports, and a stop function for the code runtimes, document workers
// and tool providers. appsDir is where tools.yaml is looked for;
// workflows runs the apps workflow tools call (set once the API server
// exists); nodes read the uploads of uploads. If it fails after starting
// runtimes, it stops them within grace.
func registry(ctx context.Context, nc nodeConfig, appsDir string, environ, protect []string, workflows *workflowtool.Deferred, uploads files.Opener, grace time.Duration) (*run.Registry, func(context.Context) error, error) {
	reg := run.NewRegistry()
	hc := httpConfig(nc)
	hc.Uploads = uploads
	if err := httpreq.Register(reg, hc); err != nil {
		return nil, nil, fmt.Errorf("configuration: http-request: %w", err)
	}
	// Python code with network reaches it through the same SSRF guard.
	guard, err := httpreq.Dialer(hc)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: http-request: %w", err)
	}
	pyDial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := guard(ctx, network, addr)
		if errors.Is(err, httpreq.ErrBlocked) {
			err = fmt.Errorf("%w: %w", code.ErrNetworkBlocked, err)
		}
		return c, err
	}
	lc, err := llmConfig(nc, environ)
	if err != nil {
		return nil, nil, err
	}
	if err := llm.Register(reg, lc); err != nil {
		return nil, nil, fmt.Errorf("configuration: llm: %w", err)
	}
	models, err := llm.NewModels(lc)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: llm: %w", err)
	}
	py := nc.CodePythonBinary
	if py == "" {
		// A system interpreter can be run by the unprivileged user the
		// workers drop to; one under /root (pyenv) cannot.
		py = "python3"
		if _, err := os.Stat("/usr/bin/python3"); err == nil {
			py = "/usr/bin/python3"
		}
	}
	cc := code.Config{
		Timeout: nc.CodeTimeout, JSPoolSize: nc.CodeJSPoolSize,
		PythonBinary: py, PythonWorkers: nc.CodePythonWorkers, PythonAllowNetwork: nc.CodePythonNetwork,
		JSMemoryLimit: nc.CodeJSMemory, PythonMemoryLimit: nc.CodePythonMemory, PythonReadPaths: nc.CodePythonRead,
		PythonUnconfined: nc.CodeUnconfined, ProtectedPaths: protect, PythonDial: pyDial,
		Endpoint: nc.CodeEndpoint, EndpointKey: nc.CodeEndpointKey,
	}
	if len(nc.CodePythonPreload) > 0 {
		cc.PythonPreload = append(append([]string(nil), code.DefaultPythonPreload...), nc.CodePythonPreload...)
	}
	runner, err := code.Register(reg, cc)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: code: %w", err)
	}
	if err := runner.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("code node runtimes: %w (set CODE_PYTHON_BINARY to a python3, or CODE_EXECUTION_ENDPOINT to a sandbox)", err)
	}
	if iso := runner.PythonIsolation(); iso.Disabled != "" {
		slog.Warn("Python code nodes are disabled", "reason", iso.Disabled,
			"hint", "set CODE_PYTHON_UNCONFINED=true to run them unconfined, or CODE_EXECUTION_ENDPOINT")
	}
	started := stops{runner.Stop}
	fail := func(err error) (*run.Registry, func(context.Context) error, error) {
		stopWithin(ctx, grace, slog.Default(), "node runtimes", started.stop)
		return nil, nil, err
	}
	toolReg, err := toolRegistry(ctx, nc.ToolsFile, appsDir, toolDeps{
		dial: guard, maxText: nc.HTTPMaxText, workflows: workflows, maxDepth: nc.WorkflowCallMaxDepth,
	})
	if err != nil {
		return fail(err)
	}
	started.add(func(context.Context) error {
		if err := toolReg.Close(); err != nil {
			return fmt.Errorf("closing tool providers: %w", err)
		}
		return nil
	})
	tool.Register(reg, toolReg, tool.Config{MaxOutputBytes: nc.ToolMaxOutput})
	agent.Register(reg, models, toolReg)
	kr, err := knowledgeRegistry(nc.KnowledgeFile, appsDir, guard, nc.KnowledgeTimeout, nc.KnowledgeMaxBytes)
	if err != nil {
		return fail(err)
	}
	started.add(func(context.Context) error { kr.Close(); return nil })
	retrieval.Register(reg, kr, models)
	docs, err := documentExtractor(ctx, reg, nc, fileOpener(guard, uploads, nc.DocMaxInput), grace)
	if err != nil {
		return fail(err)
	}
	started.add(docs.Stop)
	return reg, started.stop, nil
}

// fileOpener is where the document-extractor node reads a file's bytes:
// uploads of the run's app from the file store, data: URLs, and
// remote_url files through the SSRF guard, up to the extractor's input
// limit.
func fileOpener(dial func(ctx context.Context, network, addr string) (net.Conn, error), uploads files.Opener, maxBytes int64) docextractor.Opener {
	return files.NewReader(files.ReaderConfig{
		Store:    uploads,
		Client:   &http.Client{Transport: &http.Transport{DialContext: dial, Proxy: nil}},
		MaxBytes: maxBytes,
	})
}

// documentExtractor starts the document workers and registers the
// document-extractor node reading files through opener. If registering
// fails, it stops the workers within grace.
func documentExtractor(ctx context.Context, reg *run.Registry, nc nodeConfig, opener docextractor.Opener, grace time.Duration) (*docextract.Workers, error) {
	workers, err := docextract.NewWorkers(ctx, docextract.WorkerConfig{
		Workers: nc.DocWorkers, MemoryLimit: nc.DocMemory, Timeout: nc.DocTimeout,
		Limits: docextract.Limits{MaxText: nc.DocMaxText, MaxEntry: nc.DocMaxEntry, MaxUnzipped: nc.DocMaxUnzipped},
		PDF:    docextract.PDFConfig{CacheDir: nc.DocPDFCache},
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: document-extractor: %w", err)
	}
	if err := workers.Start(ctx); err != nil {
		return nil, fmt.Errorf("document-extractor workers: %w", err)
	}
	err = docextractor.Register(reg, docextractor.Config{Opener: opener, Extractor: workers, MaxInputBytes: nc.DocMaxInput})
	if err != nil {
		stopWithin(ctx, grace, slog.Default(), "document workers", workers.Stop)
		return nil, fmt.Errorf("configuration: document-extractor: %w", err)
	}
	return workers, nil
}

// llmConfig reads LLM_PROVIDERS and LLM_PROVIDER_<KEY>_* (docs/nodes.md).
func llmConfig(nc nodeConfig, environ []string) (llm.Config, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	global, err := modelMap(nc.LLMModelMap)
	if err != nil {
		return llm.Config{}, fmt.Errorf("configuration: LLM_MODEL_MAP: %w", err)
	}
	cfg := llm.Config{Providers: map[string]llm.Provider{}, DefaultProvider: nc.LLMDefaultProvider,
		Timeout: nc.LLMTimeout, IdleTimeout: nc.LLMIdleTimeout, ConnectTimeout: nc.LLMConnectTimeout,
		CountTokens: nc.LLMTokenCounting}
	for _, key := range nc.LLMProviders {
		key = strings.TrimSpace(key)
		if key == "" {
			continue
		}
		prefix := "LLM_PROVIDER_" + strings.ToUpper(strings.NewReplacer("-", "_", "/", "_", ".", "_").Replace(key)) + "_"
		models, err := modelMap(env[prefix+"MODEL_MAP"])
		if err != nil {
			return llm.Config{}, fmt.Errorf("configuration: %sMODEL_MAP: %w", prefix, err)
		}
		for k, v := range global {
			if _, ok := models[k]; !ok {
				models[k] = v
			}
		}
		p := llm.Provider{BaseURL: env[prefix+"BASE_URL"], APIKey: env[prefix+"API_KEY"], Models: models,
			StructuredOutput: env[prefix+"STRUCTURED_OUTPUT"]}
		if v := env[prefix+"TOOL_CALLS"]; v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return llm.Config{}, fmt.Errorf("configuration: %sTOOL_CALLS: %w", prefix, err)
			}
			p.NoToolCalls = !on
		}
		if v := env[prefix+"CONTEXT_SIZE"]; v != "" {
			if p.ContextSize, err = strconv.Atoi(v); err != nil {
				return llm.Config{}, fmt.Errorf("configuration: %sCONTEXT_SIZE: %w", prefix, err)
			}
		}
		if p.ContextSizes, err = contextSizes(env[prefix+"CONTEXT_SIZES"]); err != nil {
			return llm.Config{}, fmt.Errorf("configuration: %sCONTEXT_SIZES: %w", prefix, err)
		}
		if p.BaseURL == "" {
			return llm.Config{}, fmt.Errorf("configuration: LLM provider %q needs %sBASE_URL", key, prefix)
		}
		cfg.Providers[key] = p
	}
	if cfg.DefaultProvider != "" && !slices.Contains(nc.LLMProviders, cfg.DefaultProvider) {
		return llm.Config{}, fmt.Errorf("configuration: LLM_DEFAULT_PROVIDER %q is not in LLM_PROVIDERS", cfg.DefaultProvider)
	}
	return cfg, nil
}

// generator returns the model caller of the chat API (suggested
// questions, conversation names) from CHAT_MODEL, SUGGESTED_QUESTIONS_*
// and the LLM provider configuration; nil when no provider is configured,
// so that the API neither suggests nor names by model.
func generator(nc nodeConfig, environ []string) (*llm.Generator, error) {
	lc, err := llmConfig(nc, environ)
	if err != nil {
		return nil, err
	}
	if len(lc.Providers) == 0 {
		if nc.ChatModel != "" {
			return nil, errors.New("configuration: CHAT_MODEL needs LLM_PROVIDERS")
		}
		return nil, nil
	}
	gc := llm.GeneratorConfig{SuggestPrompt: nc.SuggestPrompt, SuggestMaxTokens: nc.SuggestMaxTokens, SuggestTemperature: nc.SuggestTemperature}
	if nc.ChatModel != "" {
		// Provider names have no colon; model names may ("llama3:8b").
		p, m, ok := strings.Cut(nc.ChatModel, ":")
		if !ok || strings.TrimSpace(p) == "" || strings.TrimSpace(m) == "" {
			return nil, fmt.Errorf("configuration: CHAT_MODEL %q is not <provider>:<model>", nc.ChatModel)
		}
		gc.Provider, gc.Model = strings.TrimSpace(p), strings.TrimSpace(m)
	}
	g, err := llm.NewGenerator(lc, gc)
	if err != nil {
		return nil, fmt.Errorf("configuration: CHAT_MODEL, SUGGESTED_QUESTIONS_*: %w", err)
	}
	return g, nil
}

// contextSizes parses "dify-model=tokens,…".
func contextSizes(s string) (map[string]int, error) {
	m, err := modelMap(s)
	if err != nil || len(m) == 0 {
		return nil, err
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", k, err)
		}
		out[k] = n
	}
	return out, nil
}

// modelMap parses "dify-model=upstream,…".
func modelMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not model=upstream", pair)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}
