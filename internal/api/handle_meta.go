package api

import (
	"math"
	"net/http"

	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/run"
)

// welcome serves GET / (no auth), as Dify's service API index does.
func (s *Server) welcome(w http.ResponseWriter, _ *http.Request) {
	e := enc{py: true}
	e.open()
	e.key("welcome")
	e.str("Dify OpenAPI")
	e.key("api_version")
	e.str("v1")
	e.key("server_version")
	e.str(s.cfg.ServerVersion)
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// healthz reports that the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []byte("{\"status\": \"ok\"}\n"))
}

// readyz reports whether new runs are accepted: 503 while draining or
// while a store the mode needs does not answer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		writeJSON(w, http.StatusServiceUnavailable, []byte("{\"status\": \"draining\"}\n"))
		return
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			s.log.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, []byte("{\"status\": \"unavailable\"}\n"))
			return
		}
	}
	writeJSON(w, http.StatusOK, []byte("{\"status\": \"ready\"}\n"))
}

// handleInfo serves GET /info.
func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	e := enc{py: true}
	e.open()
	e.key("name")
	e.str(a.Name)
	e.key("description")
	e.str(a.Description)
	e.key("tags")
	e.strs(a.Tags)
	e.key("mode")
	e.str(a.Mode)
	e.key("author_name")
	e.str(a.AuthorName)
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// featureDefaults are what GET /parameters reports for features the DSL
// leaves out (Dify's get_parameters_from_feature_dict + the Parameters
// model), in response order.
var featureDefaults = []struct {
	key string
	def func() any
}{
	{"opening_statement", func() any { return "" }},
	{"suggested_questions", func() any { return []any{} }},
	{"suggested_questions_after_answer", func() any { return ordered("enabled", false) }},
	{"speech_to_text", func() any { return ordered("enabled", false) }},
	{"text_to_speech", func() any { return ordered("enabled", false, "language", "", "voice", "") }},
	{"retriever_resource", func() any { return ordered("enabled", true) }},
	{"annotation_reply", func() any { return ordered("enabled", false) }},
	{"more_like_this", func() any { return ordered("enabled", false) }},
	{"user_input_form", nil},
	{"sensitive_word_avoidance", func() any { return ordered("enabled", false) }},
	{"file_upload", func() any {
		return ordered("image", ordered(
			"enabled", false, "number_limits", int64(3), "detail", "high",
			"transfer_methods", []any{"remote_url", "local_file"}))
	}},
}

// handleParameters serves GET /parameters: the app's features with
// defaults, the start variables verbatim as user_input_form, and the
// upload limits.
func (s *Server) handleParameters(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	features := a.Workflow.Doc.Workflow.Features
	e := enc{py: true}
	e.open()
	for _, f := range featureDefaults {
		e.key(f.key)
		if f.def == nil { // user_input_form
			e.b = append(e.b, '[')
			e.first = true
			for _, v := range a.Workflow.Inputs {
				e.sep()
				e.open()
				e.key(v.Type)
				e.value(v.Raw)
				e.close()
			}
			e.b = append(e.b, ']')
			e.first = false
			continue
		}
		if v, ok := features[f.key]; ok && v != nil {
			e.value(integral(v))
		} else {
			e.value(f.def())
		}
	}
	e.key("system_parameters")
	e.open()
	lim := s.cfg.Files.Limits
	for _, kv := range []struct {
		k string
		v int64
	}{
		// The upload limits in force, in MB (MiB) as Dify reports them.
		{"image_file_size_limit", lim.Image / files.MiB}, {"video_file_size_limit", lim.Video / files.MiB}, {"audio_file_size_limit", lim.Audio / files.MiB},
		{"file_size_limit", lim.File / files.MiB}, {"workflow_file_upload_limit", 10},
	} {
		e.key(kv.k)
		e.int(kv.v)
	}
	e.close()
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// ordered builds an ordered JSON object from name, value pairs.
func ordered(pairs ...any) run.Vars {
	vs := make(run.Vars, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		vs = append(vs, run.Var{Name: pairs[i].(string), Value: pairs[i+1]})
	}
	return vs
}

// integral turns whole float64s back into int64s, recursively (on a copy).
// run.Document.Workflow.Features is decoded without json.Number, so the
// integers of the DSL (number_limits: 3) arrive as floats and would print
// as 3.0; a DSL float that happens to be whole prints without ".0".
func integral(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = integral(el)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = integral(el)
		}
		return out
	}
	return v
}
