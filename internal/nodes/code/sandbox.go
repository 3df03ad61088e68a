package code

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/flowrun/flowrun/internal/run"
)

// sandboxRunner runs code through a dify-sandbox compatible service
// (CODE_EXECUTION_ENDPOINT), wrapping it in Dify's runner templates so the
// service sees exactly what Dify would send.
type sandboxRunner struct {
	url    string
	key    string
	net    bool
	max    int
	client *http.Client
}

func newSandboxRunner(cfg Config) *sandboxRunner {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext, // CODE_EXECUTION_CONNECT_TIMEOUT
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	return &sandboxRunner{
		url:    strings.TrimRight(cfg.Endpoint, "/") + "/v1/sandbox/run",
		key:    cfg.EndpointKey,
		net:    cfg.EndpointEnableNetwork,
		max:    cfg.MaxResultBytes,
		client: &http.Client{Transport: tr, Timeout: cfg.EndpointTimeout},
	}
}

func (s *sandboxRunner) close() { s.client.CloseIdleConnections() }

// Dify's runner templates (core/helper/code_executor/*/..._transformer.py).
const (
	pythonRunner = `{{code}}

import json
from base64 import b64decode

# decode and prepare input dict
inputs_obj = json.loads(b64decode('{{inputs}}').decode('utf-8'))

# execute main function
output_obj = main(**inputs_obj)

# convert output to json and print
output_json = json.dumps(output_obj, indent=4)

result = f'''<<RESULT>>{output_json}<<RESULT>>'''
print(result)
`
	nodeRunner = `// declare main function
{{code}}

// decode and prepare input object
var inputs_obj = JSON.parse(Buffer.from('{{inputs}}', 'base64').toString('utf-8'))

// execute main function
var output_obj = main(inputs_obj)

// convert output to json and print
var output_json = JSON.stringify(output_obj)
var result = ` + "`<<RESULT>>${output_json}<<RESULT>>`" + `
console.log(result)
`
)

var resultTag = regexp.MustCompile(`(?s)<<RESULT>>(.*)<<RESULT>>`)

type sandboxRequest struct {
	Language      string `json:"language"`
	Code          string `json:"code"`
	Preload       string `json:"preload"`
	EnableNetwork bool   `json:"enable_network"`
}

type sandboxResponse struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    *struct {
		Stdout *string `json:"stdout"`
		Error  *string `json:"error"`
	} `json:"data"`
}

// run posts the wrapped code and returns main's result as JSON.
func (s *sandboxRunner) run(ctx context.Context, language, code string, inputs map[string]any) ([]byte, error) {
	if inputs == nil {
		inputs = map[string]any{}
	}
	in, err := json.Marshal(inputs)
	if err != nil {
		return nil, execError("cannot pass inputs to code: %v", err)
	}
	enc := base64.StdEncoding.EncodeToString(in)
	req := sandboxRequest{Preload: "", EnableNetwork: s.net}
	switch language {
	case LangPython:
		req.Language = "python3"
		req.Code = strings.Replace(strings.Replace(pythonRunner, "{{code}}", code, 1), "{{inputs}}", enc, 1)
	case LangJavaScript:
		req.Language = "nodejs"
		req.Code = strings.Replace(strings.Replace(nodeRunner, "{{code}}", code, 1), "{{inputs}}", enc, 1)
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, execError("Failed to execute code: %v", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-Api-Key", s.key)
	resp, err := s.client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, execError("Failed to execute code, which is likely a network issue, please check if the sandbox service is running. ( Error: %v )", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return nil, execError("Code execution service is unavailable")
	case resp.StatusCode != http.StatusOK:
		return nil, execError("Failed to execute code, got status code %d, please check if the sandbox service is running", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.max)+(1<<20)))
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, execError("Failed to execute code, which is likely a network issue, please check if the sandbox service is running. ( Error: %v )", err)
	}
	var sr sandboxResponse
	if err := json.Unmarshal(raw, &sr); err != nil {
		return nil, execError("Failed to parse response")
	}
	if sr.Code != 0 {
		return nil, execError("%s", sr.Message)
	}
	if sr.Data == nil {
		return nil, execError("Failed to parse response")
	}
	if sr.Data.Error != nil && *sr.Data.Error != "" {
		return nil, execError("%s", *sr.Data.Error)
	}
	stdout := ""
	if sr.Data.Stdout != nil {
		stdout = *sr.Data.Stdout
	}
	m := resultTag.FindStringSubmatch(stdout)
	if m == nil {
		return nil, execError("Failed to parse result")
	}
	if len(m[1]) > s.max {
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %d bytes, limit %d", ErrResultTooLarge, len(m[1]), s.max)}
	}
	return []byte(m[1]), nil
}
