package code

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// sandboxStub implements dify-sandbox's POST /v1/sandbox/run. Python code
// is really run with python3 (so Dify's runner template is exercised end
// to end); nodejs code is checked for the template's shape and answered
// with the decoded inputs.
type sandboxStub struct {
	key      string
	requests atomic.Int64
	status   int // non-zero: answer with this HTTP status
	code     int // non-zero: answer {"code": code, "message": ...}
}

var stubInputs = regexp.MustCompile(`Buffer\.from\('([A-Za-z0-9+/=]*)', 'base64'\)`)

func (s *sandboxStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/sandbox/run" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("X-Api-Key") != s.key {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":-401,"message":"Unauthorized","data":null}`)
		return
	}
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	var req struct {
		Language      string `json:"language"`
		Code          string `json:"code"`
		Preload       string `json:"preload"`
		EnableNetwork *bool  `json:"enable_network"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.EnableNetwork == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	reply := func(stdout, errText string) {
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "message": "success", "data": map[string]any{"stdout": stdout, "error": errText}})
	}
	if s.code != 0 {
		_ = json.NewEncoder(w).Encode(map[string]any{"code": s.code, "message": "sandbox says no", "data": nil})
		return
	}
	switch req.Language {
	case "python3":
		cmd := exec.Command("python3", "-c", req.Code)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		reply(stdout.String(), stderr.String())
	case "nodejs":
		m := stubInputs.FindStringSubmatch(req.Code)
		if m == nil || !strings.Contains(req.Code, "var output_obj = main(inputs_obj)") {
			reply("", "stub: not Dify's nodejs runner template")
			return
		}
		in, _ := base64.StdEncoding.DecodeString(m[1])
		reply("some log line\n<<RESULT>>{\"echo\": "+string(in)+"}<<RESULT>>\n", "")
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	stub := &sandboxStub{key: "k3y"}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	rn := startRunner(t, Config{Endpoint: srv.URL, EndpointKey: "k3y"})
	if rn.PythonProcesses() != 0 {
		t.Fatal("no Python worker may start when an endpoint is configured")
	}

	m := mustRun(t, rn, LangPython, "def main(a: int, b: str) -> dict:\n    return {'sum': a + 1, 'f': 2.5, 'b': b}\n", map[string]any{"a": int64(1), "b": "ü"})
	if fmt.Sprint(m) != "map[b:ü f:2.5 sum:2]" {
		t.Fatalf("python through the endpoint: %v", m)
	}
	m = mustRun(t, rn, LangJavaScript, "function main({a}) { return {a} }", map[string]any{"a": int64(7)})
	if fmt.Sprint(m) != "map[echo:map[a:7]]" {
		t.Fatalf("javascript through the endpoint: %v", m)
	}
	_, err := runCode(t, rn, LangPython, "def main(a):\n    raise ValueError('boom')\n", map[string]any{"a": 1})
	if err == nil || !strings.Contains(err.Error(), "ValueError: boom") || !strings.Contains(err.Error(), "Traceback") || errorType(err) != TypeExecution {
		t.Fatalf("python error through the endpoint: %v", err)
	}
	_, err = runCode(t, rn, LangPython, "def main():\n    return [1]\n", nil)
	if err == nil || err.Error() != "Result must be a dict, got list" {
		t.Fatalf("list result: %v", err)
	}

	for _, c := range []struct {
		name string
		cfg  func(s *sandboxStub) (key string)
		want string
	}{
		{"bad key", func(s *sandboxStub) string { return "wrong" }, "Failed to execute code, got status code 401, please check if the sandbox service is running"},
		{"unavailable", func(s *sandboxStub) string { s.status = 503; return s.key }, "Code execution service is unavailable"},
		{"server error", func(s *sandboxStub) string { s.status = 500; return s.key }, "Failed to execute code, got status code 500, please check if the sandbox service is running"},
		{"sandbox error code", func(s *sandboxStub) string { s.code = -500; return s.key }, "sandbox says no"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := &sandboxStub{key: "k3y"}
			key := c.cfg(s)
			srv := httptest.NewServer(s)
			defer srv.Close()
			rn := startRunner(t, Config{Endpoint: srv.URL + "/", EndpointKey: key})
			_, err := runCode(t, rn, LangPython, "def main():\n    return {}\n", nil)
			if err == nil || err.Error() != c.want || errorType(err) != TypeExecution {
				t.Fatalf("got %v (%s), want %q", err, errorType(err), c.want)
			}
		})
	}

	down := startRunner(t, Config{Endpoint: "http://127.0.0.1:1"})
	_, err = runCode(t, down, LangJavaScript, "function main() { return {} }", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "Failed to execute code, which is likely a network issue") {
		t.Fatalf("unreachable endpoint: %v", err)
	}
}
