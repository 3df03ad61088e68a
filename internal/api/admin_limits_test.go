package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/api"
)

// An app document over one of the engine's document limits is refused
// through the admin API with a 400 whose message names the limit, and
// nothing is stored.
func TestAdminRefusesOversizedDocuments(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.MaxBodyBytes = 16 << 20 }})
	var manyNodes strings.Builder
	for i := range 20_001 {
		fmt.Fprintf(&manyNodes, "    - {id: n%d, data: {type: end, title: E}}\n", i)
	}
	var bigMapping strings.Builder
	bigMapping.WriteString("app: {mode: workflow, name: big}\nworkflow:\n  features:\n")
	for i := range 100_000 {
		fmt.Fprintf(&bigMapping, "    k%d: 1\n", i)
	}
	tests := []struct{ name, doc, message string }{
		{"bytes", dslWith(okStart+okEnd, okEdge) + "# " + strings.Repeat("x", 10<<20) + "\n",
			"(limit DSL_MAX_BYTES=10485760)"},
		{"nodes", dslWith(okStart+manyNodes.String(), ""),
			"invalid workflow DSL: workflow has 20002 nodes (limit DSL_MAX_NODES=20000)"},
		{"yaml nodes", "x: [" + strings.Repeat("1,", 1_000_001) + "1]\n",
			"(limit DSL_MAX_YAML_NODES=1000000)"},
		{"mapping keys", bigMapping.String(),
			"invalid workflow DSL: the mapping at line 4 has 100000 keys (limit DSL_MAX_MAPPING_KEYS=10000)"},
		{"depth", "x: " + strings.Repeat("[", 101) + strings.Repeat("]", 101) + "\n",
			"invalid workflow DSL: document nests more than 100 levels deep at line 1 (limit DSL_MAX_DEPTH=100)"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := newAppID(900 + i)
			rec := b.do("PUT", "/admin/apps/"+id, adminKey, tt.doc)
			var body errBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 400 || body.Code != "invalid_param" || !strings.Contains(body.Message, tt.message) {
				t.Fatalf("%d %.300s\nwant 400 invalid_param with %q", rec.Code, rec.Body, tt.message)
			}
			if rec := b.do("GET", "/admin/apps/"+id, adminKey, ""); rec.Code != 404 {
				t.Fatalf("refused app stored: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
