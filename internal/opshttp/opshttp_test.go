package opshttp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	get := func(h http.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, profiling := range []bool{false, true} {
		h := Handler(reg, profiling)
		if code, body := get(h, "/metrics"); code != 200 || !strings.Contains(body, "flowrun_test_total 1") {
			t.Errorf("profiling=%v: /metrics = %d %q", profiling, code, body)
		}
		if code, _ := get(h, "/healthz"); code != 200 {
			t.Errorf("profiling=%v: /healthz = %d", profiling, code)
		}
		want := 404
		if profiling {
			want = 200
		}
		if code, _ := get(h, "/debug/pprof/"); code != want {
			t.Errorf("profiling=%v: /debug/pprof/ = %d, want %d", profiling, code, want)
		}
	}
}
