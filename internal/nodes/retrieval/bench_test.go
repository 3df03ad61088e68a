package retrieval

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
)

// BenchmarkRetrieval measures the node's overhead beyond its backend's
// time: "raw" posts the node's request to the loopback External
// Knowledge API stub with a plain net/http client and decodes the
// answer; "node" runs start → knowledge-retrieval → end over the same
// stub. Both report their median (p50-µs); the difference is the node's
// (and the engine's) overhead.
func BenchmarkRetrieval(b *testing.B) {
	tb := setup(b, nil)
	b.Run("raw", func(b *testing.B) {
		body := []byte(`{"retrieval_setting":{"top_k":3,"score_threshold":0},"query":"refunds","knowledge_id":"kb-faq"}`)
		hc := &http.Client{}
		defer hc.CloseIdleConnections()
		durations := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, tb.ext.URL+"/retrieval", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+extKey)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out struct {
				Records []map[string]any `json:"records"`
			}
			if err := json.Unmarshal(data, &out); err != nil || len(out.Records) != 3 {
				b.Fatalf("%v %s", err, data)
			}
			durations = append(durations, time.Since(start))
		}
		reportP50(b, durations)
	})
	b.Run("node", func(b *testing.B) {
		wf, err := tb.eng.Compile(doc(map[string]any{"dataset_ids": []any{"faq"}, "multiple_retrieval_config": multiple(3, nil, false)}))
		if err != nil {
			b.Fatal(err)
		}
		in, err := wf.PrepareInputs(map[string]any{"q": "refunds"})
		if err != nil {
			b.Fatal(err)
		}
		durations := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			info := tb.eng.Run(context.Background(), wf, run.Params{RunID: "r", AppID: "a", WorkflowID: "w", UserID: "u", Inputs: in}, nil)
			if info.Status != run.StatusSucceeded {
				b.Fatalf("%s: %s", info.Status, info.Error)
			}
			durations = append(durations, time.Since(start))
		}
		reportP50(b, durations)
	})
}

func reportP50(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
}
