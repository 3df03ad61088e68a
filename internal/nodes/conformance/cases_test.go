package conformance

import (
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
)

// cases has one entry per DSL file whose node types are all supported,
// keyed by its path under testdata/dsl. Inputs are plausible values for the
// start variables; the fake model's answers are what the downstream nodes
// of each file need (JSON where a code node parses it, a class where a
// classifier routes, the declared parameters where an extractor extracts).
var cases = map[string]fileCase{
	// ---- dify-fixtures ----
	"dify-fixtures/array_iteration_formatting_workflow.yml": {Runs: []runCase{{
		Name: "no inputs",
		// The description states the outputs.
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"output":["output: 1","output: 2","output: 3"]}`)
		},
	}}},
	"dify-fixtures/basic_llm_chat_workflow.yml": {Runs: []runCase{{
		Name:   "query",
		Inputs: map[string]any{"query": "What is Dify?"},
		LLM:    llmScript{Rules: []rule{{Contains: "What is Dify?", Answer: "Dify is an LLM app platform."}}},
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"answer":"Dify is an LLM app platform."}`)
			if got := r.Text(); got != "Dify is an LLM app platform." {
				t.Fatalf("streamed %q", got)
			}
		},
	}}},
	"dify-fixtures/conditional_hello_branching_workflow.yml": {Runs: []runCase{
		{Name: "hello", Inputs: map[string]any{"query": "hello dify"}, Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"true":"hello dify"}`)
		}},
		{Name: "other", Inputs: map[string]any{"query": "good bye"}, Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"false":"good bye"}`)
		}},
	}},
	"dify-fixtures/dual_switch_variable_aggregator_workflow.yml": {Runs: []runCase{
		// The description's example.
		{Name: "1,0", Inputs: map[string]any{"switch1": "1", "switch2": "0"}, Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"group1":"switch 1 on","group2":"switch 2 off"}`)
		}},
		// The branches test "= 1" (the description's "any other value"
		// is looser than the graph).
		{Name: "0,1", Inputs: map[string]any{"switch1": "0", "switch2": "1"}, Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"group1":"switch 1 off","group2":"switch 2 on"}`)
		}},
	}},
	"dify-fixtures/http_request_with_json_tool_workflow.yml": {
		// Dify's test_http_tool_workflow_with_auto_mock, with a real
		// HTTP exchange and the fixture's tool configured (toolsYAML).
		InputURLs: map[string]string{"url": "/data"},
		HTTP:      map[string]stubResponse{"/data": {ContentType: "application/json", Body: `{"key": "value", "number": 42}`}},
		Runs: []runCase{{
			Name: "json body",
			Check: func(t *testing.T, r *result) {
				wantJSON(t, "outputs", r.info.Outputs, `{"status_code":200,"parsed_data":{"key":"value","number":42}}`)
				if len(r.http) != 1 || r.http[0].Path != "/data" {
					t.Fatalf("requests %+v", r.http)
				}
				n := r.Node(t, "tool_node")
				wantJSON(t, "tool inputs", n.Inputs, `{"json_string":"{\"key\": \"value\", \"number\": 42}"}`)
			},
		}},
	},
	"dify-fixtures/increment_loop_with_break_condition_workflow.yml": {Runs: []runCase{{
		Name: "no inputs",
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"num":5}`)
		},
	}}},
	"dify-fixtures/iteration_contains_answer.yml": {Runs: []runCase{{
		Name: "no inputs",
		// The inner answer streams each item of the conversation
		// variable ["apple", "banana"], then the final answer "done".
		Check: func(t *testing.T, r *result) {
			got := r.Text()
			a, b, d := strings.Index(got, "apple"), strings.Index(got, "banana"), strings.Index(got, "done")
			if a < 0 || b < a || d < b {
				t.Fatalf("streamed %q, want apple, banana, then done", got)
			}
		},
	}}},
	"dify-fixtures/simple_passthrough_workflow.yml": {Runs: []runCase{{
		Name:   "query",
		Inputs: map[string]any{"query": "你好 world"},
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"query":"你好 world"}`)
		},
	}}},

	// ---- dify-templates ----
	"dify-templates/Book_Translation.yml": {Runs: []runCase{{
		// 9000 characters make two chunks (8000 each, 100 overlapping):
		// the iteration runs the four LLMs once per chunk and the
		// template joins the two final translations with a space.
		Name:   "two chunks",
		Inputs: map[string]any{"input_text": strings.Repeat("A", 8000) + strings.Repeat("B", 1000)},
		LLM: llmScript{Rules: []rule{
			{Contains: "<Free Translation>", Func: func(p string) string { return "free(" + marker(p, "direct-") + ")" }},
			{Contains: "<Problems with the Direct Translation>", Answer: "no problems"},
			{Contains: "<Before Translation>", Func: func(p string) string {
				return "direct-" + chunkLetter(between(p, "<Before Translation> \n", "\n<Terms>"))
			}},
			{Contains: "<Technical Terms>", Answer: "| Token | Token |"},
		}},
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"final":"free(direct-A) free(direct-B)"}`)
			if n := len(r.llm); n != 8 {
				t.Fatalf("%d model calls, want 8", n)
			}
		},
	}}},
	"dify-templates/Customer_Review_Analysis_Workflow.yml": {
		// The three HTTP Request nodes all call https://www.example.com.
		URLs: map[string]string{"https://www.example.com": "/"},
		HTTP: map[string]stubResponse{"/": {ContentType: "text/plain", Body: "forwarded"}},
		Runs: []runCase{
			{Name: "positive", Inputs: map[string]any{"review": "Great product, fast delivery!"},
				LLM:   llmScript{Classes: []string{"1711529038361"}},
				Check: reviewRoute("1711529059204", 1)},
			{Name: "after-sales", Inputs: map[string]any{"review": "It broke after a week and support ignores me."},
				LLM:   llmScript{Classes: []string{"1711529041725", "1711529068175"}},
				Check: reviewRoute("1711529077513", 2)},
			{Name: "transportation", Inputs: map[string]any{"review": "The parcel arrived crushed, two weeks late."},
				LLM:   llmScript{Classes: []string{"1711529041725", "1711529068956"}},
				Check: reviewRoute("1711529078719", 2)},
		},
	},
	"dify-templates/Email_Assistant_Workflow.yml": {Runs: []runCase{
		{Name: "summarize", Inputs: map[string]any{"Input_Text": "Dear team, the launch moves to May.", "user_request": "Summarize"},
			LLM: llmScript{Classes: []string{"1711512811520"}, Rules: []rule{{Contains: "Summary the email", Answer: "Launch moved to May."}}},
			Check: func(t *testing.T, r *result) {
				wantJSON(t, "outputs", r.info.Outputs, `{"text":"Launch moved to May."}`)
				if !r.ran("1711512911454") || len(r.calls("classifier")) != 1 {
					t.Fatalf("ran %v with %d classifier calls", r.finished(), len(r.calls("classifier")))
				}
			}},
		{Name: "shorten", Inputs: map[string]any{"Input_Text": "Dear team, I am writing to let you know that the launch moves to May.", "user_request": "Improve writings ", "how_polish": "Shorten"},
			LLM: llmScript{Classes: []string{"1711512813038", "1711512847112"}, Rules: []rule{{Contains: "Shorten the email", Answer: "Launch: May."}}},
			Check: func(t *testing.T, r *result) {
				wantJSON(t, "outputs", r.info.Outputs, `{"text":"Launch: May."}`)
				if !r.ran("1711512926020") || len(r.calls("classifier")) != 2 {
					t.Fatalf("ran %v with %d classifier calls", r.finished(), len(r.calls("classifier")))
				}
			}},
	}},
	"dify-templates/Sentiment_Analysis.yml": {Runs: []runCase{
		{Name: "multisentiment", Inputs: map[string]any{"input_text": "Great pizza, slow service.", "Multisentiment": "True", "Categories": "food, service"},
			LLM: llmScript{Rules: []rule{{Contains: "Input Text: Great pizza", Answer: `[{"category": "food", "sentiment": "Positive"}, {"category": "service", "sentiment": "Negative"}]`}}},
			Check: func(t *testing.T, r *result) {
				wantJSON(t, "outputs", r.info.Outputs, `{"text":"[{\"category\": \"food\", \"sentiment\": \"Positive\"}, {\"category\": \"service\", \"sentiment\": \"Negative\"}]"}`)
				if !r.ran("1711708925268") || r.ran("1711708651402") {
					t.Fatalf("ran %v", r.finished())
				}
			}},
		{Name: "single", Inputs: map[string]any{"input_text": "Great pizza.", "Multisentiment": "False"},
			LLM: llmScript{Rules: []rule{{Contains: "input_text: Great pizza", Answer: `{"sentiment": "Positive", "score": 0.9}`}}},
			Check: func(t *testing.T, r *result) {
				wantJSON(t, "outputs", r.info.Outputs, `{"text":"{\"sentiment\": \"Positive\", \"score\": 0.9}"}`)
				if !r.ran("1711708651402") || r.ran("1711708925268") {
					t.Fatalf("ran %v", r.finished())
				}
			}},
	}},

	// ---- community ----
	"community/SEO_Slug_Generator.yml": {Runs: []runCase{{
		Name:   "title",
		Inputs: map[string]any{"title": "How to Bake Sourdough Bread at Home"},
		LLM:    llmScript{Rules: []rule{{Contains: "How to Bake Sourdough", Answer: "bake-sourdough-bread-at-home"}}},
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"output":"bake-sourdough-bread-at-home"}`)
		},
	}}},
	"community/Text_to_Card_Iteration.yml": {
		// The card image API; the extractor then pulls the image URL out
		// of its JSON answer.
		URLs: map[string]string{"https://api.imgrender.cn": ""},
		HTTP: map[string]stubResponse{"/open/v1/pics": {ContentType: "application/json",
			Body: `{"code":0,"message":"success","data":{"url":"https://img.example/card-1.png","width":300,"height":800}}`}},
		Runs: []runCase{{
			Name:   "card",
			Inputs: map[string]any{"author": "Lu Xun", "body_text": "Hope is like a path in the countryside."},
			LLM:    llmScript{Params: map[string]any{"image_url": "https://img.example/card-1.png"}},
			Check: func(t *testing.T, r *result) {
				wantJSON(t, "outputs", r.info.Outputs, `{"image_url":"https://img.example/card-1.png"}`)
				if len(r.http) != 1 {
					t.Fatalf("%d HTTP requests", len(r.http))
				}
				req := r.http[0]
				if req.Method != "POST" || req.Header.Get("X-Api-Key") == "" || !strings.Contains(req.Body, `"text":"Lu Xun"`) ||
					!strings.Contains(req.Body, `"text":"Hope is like a path in the countryside."`) {
					t.Fatalf("request %s %s %v %s", req.Method, req.Path, req.Header, req.Body)
				}
				ex := r.calls("extractor")
				if len(ex) != 1 || !strings.Contains(ex[0].Prompt, "card-1.png") {
					t.Fatalf("extractor calls %v", ex)
				}
			},
		}},
	},
	"community/chart_demo.yml": {
		// The China Meteorological Administration's monthly climate API;
		// the code node turns its JSON into an ECharts chart.
		URLs: map[string]string{"https://weather.cma.cn": ""},
		HTTP: map[string]stubResponse{"/api/climate": {ContentType: "application/json", Body: `{"msg":"success","code":0,"data":{"beginYear":1991,"endYear":2020,"station":{"id":"58367","name":"Shanghai"},"data":[` +
			`{"month":1,"maxTemp":8.4,"minTemp":1.5,"rainfall":74.1},{"month":2,"maxTemp":10.2,"minTemp":3.1,"rainfall":59.1},{"month":3,"maxTemp":14.4,"minTemp":6.6,"rainfall":95.4}]}}`}},
		Runs: []runCase{{
			Name: "no inputs",
			Check: func(t *testing.T, r *result) {
				if len(r.http) != 1 || r.http[0].Path != "/api/climate?stationid=58367" {
					t.Fatalf("HTTP requests %v", r.http)
				}
				got := r.Text()
				for _, want := range []string{"```echarts\n", "1991年-2020年月平均气温和降水", `"1月"`, "74.1", "\n```"} {
					if !strings.Contains(got, want) {
						t.Fatalf("answer lacks %q:\n%s", want, got)
					}
				}
			},
		}},
	},
	"community/dify_course_demo.yml": {Runs: []runCase{{
		// The outline LLM answers with a fenced JSON list, as the code
		// node after it expects; the iteration then writes one article
		// per section.
		Name:   "course",
		Inputs: map[string]any{"course_name": "Go"},
		LLM: llmScript{Rules: []rule{
			{Contains: "课程大纲", Answer: "```json\n" + `[{"chapter": "第1章", "title": "入门", "contents": ["1.1 安装", "1.2 Hello"]}, {"chapter": "第2章", "title": "进阶", "contents": ["2.1 并发"]}]` + "\n```"},
			{Contains: "写一篇关于", Func: func(p string) string { return "文章:" + between(p, "\n写一篇关于", " 的教程文章") }},
		}},
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"course_name":"Go","course":[`+
				`{"course":"文章:入门 1.1 安装","info":{"chapter":"第1章","subtitle":"1.1 安装","title":"入门"}},`+
				`{"course":"文章:入门 1.2 Hello","info":{"chapter":"第1章","subtitle":"1.2 Hello","title":"入门"}},`+
				`{"course":"文章:进阶 2.1 并发","info":{"chapter":"第2章","subtitle":"2.1 并发","title":"进阶"}}]}`)
		},
	}}},
	// EXCEPTION: this chatflow cannot succeed under flowrun's
	// POST /workflows/run semantics. Its "执行任务" LLM (inside the
	// iteration) and "归纳答案" LLM put the user's question, {{#sys.query#}},
	// into their prompts, and flowrun provides no sys.query: a run has only
	// the start node's inputs (this start node declares none). As in Dify,
	// a prompt variable that does not resolve fails the LLM node, so the
	// run fails at the first round of the iteration. Everything before it
	// runs: the decomposition LLM, the prompt-mode parameter extractor
	// (array[object] steps) and the code node of the first round. This
	// case pins that failure; when the engine gains a way to pass a
	// chatflow's query, it should become a succeeded run.
	"community/llm2o1.cn.yml": {Runs: []runCase{{
		Name:  "question",
		Query: "一个班有30人，女生比男生多4人，男生有几人？",
		LLM: llmScript{
			Rules: []rule{{Contains: "分步推理", Answer: "1. 理解题意：找出已知条件\n2. 计算：求出结果"}},
			Params: map[string]any{"steps": []any{
				map[string]any{"name": "理解题意", "content": "找出已知条件"},
				map[string]any{"name": "计算", "content": "求出结果"},
			}},
		},
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "extracted steps", mustGet(t, r.Node(t, "1727188958486").Outputs, "steps"),
				`[{"content":"找出已知条件","name":"理解题意"},{"content":"求出结果","name":"计算"}]`)
			for _, id := range []string{"llm", "1727188958486", "1727189052583", "1727189151263"} {
				if n := r.Node(t, id); n.Status != run.StatusSucceeded {
					t.Fatalf("node %s %s: %s", id, n.Status, n.Error)
				}
			}
		},
	}}},
	"community/translation_workflow.yml": {Runs: []runCase{
		{Name: "no country", Inputs: map[string]any{"source_lang": "English", "target_lang": "French", "source_text": "Good morning"},
			LLM: translationScript, Check: func(t *testing.T, r *result) {
				wantJSON(t, "outputs", r.info.Outputs, `{"output":"final[Bonjour|plain suggestions]"}`)
			}},
		{Name: "country", Inputs: map[string]any{"source_lang": "English", "target_lang": "French", "source_text": "Good morning", "country": "Canada"},
			LLM: translationScript, Check: func(t *testing.T, r *result) {
				wantJSON(t, "outputs", r.info.Outputs, `{"output":"final[Bonjour|suggestions for Canada]"}`)
			}},
	}},
	"community/全书翻译.yml": {Runs: []runCase{{
		// As Book_Translation: two chunks, four LLMs each.
		Name:   "two chunks",
		Inputs: map[string]any{"input_text": strings.Repeat("A", 8000) + strings.Repeat("B", 1000)},
		LLM: llmScript{Rules: []rule{
			{Contains: "<意译>", Func: func(p string) string { return "意译(" + marker(p, "直译-") + ")" }},
			{Contains: "<直接翻译的问题>", Answer: "没有问题"},
			{Contains: "<翻译前的原文>", Func: func(p string) string {
				return "直译-" + chunkLetter(between(p, "<翻译前的原文> \n", "\n<专有名词>"))
			}},
			{Contains: "<Technical Terms>", Answer: "| Token | Token |"},
		}},
		Check: func(t *testing.T, r *result) {
			wantJSON(t, "outputs", r.info.Outputs, `{"final":"意译(直译-A) 意译(直译-B)"}`)
			if n := len(r.llm); n != 8 {
				t.Fatalf("%d model calls, want 8", n)
			}
		},
	}}},
	"community/春联生成器.yml": {Runs: []runCase{{
		// The code node finds the first JSON object in the answer.
		Name:   "couplet",
		Inputs: map[string]any{"theme": "蛇年", "count": "七言"},
		LLM: llmScript{Rules: []rule{{Contains: "主题：蛇年", Answer: "好的，春联如下：\n" +
			`{"top": "金蛇狂舞迎新岁", "bottom": "瑞雪飘香贺福年", "banner": "万象更新"}`}}},
		Check: func(t *testing.T, r *result) {
			out := r.text(t, "output")
			for _, want := range []string{"新更象万", "金蛇狂舞迎新岁", "瑞雪飘香贺福年"} {
				if !strings.Contains(out, want) {
					t.Fatalf("output lacks %q:\n%s", want, out)
				}
			}
		},
	}}},
}

// translationScript answers the translate → suggest → improve chain; the
// final answer shows which suggestions reached it through the aggregator.
var translationScript = llmScript{Rules: []rule{
	{Contains: "<EXPERT_SUGGESTIONS>", Func: func(p string) string {
		return "final[" + between(p, "<TRANSLATION>\n", "\n</TRANSLATION>") + "|" + between(p, "<EXPERT_SUGGESTIONS>\n", "\n</EXPERT_SUGGESTIONS>") + "]"
	}},
	{Contains: "colloquially spoken in Canada", Answer: "suggestions for Canada"},
	{Contains: "give constructive criticisms", Answer: "plain suggestions"},
	{Contains: "please provide the French translation", Answer: "Bonjour"},
}}

// reviewRoute checks that a review went through want (an HTTP Request
// node) after the given number of classifications, and that the variable
// assigner passed its body to the End.
func reviewRoute(want string, classifications int) func(t *testing.T, r *result) {
	return func(t *testing.T, r *result) {
		wantJSON(t, "outputs", r.info.Outputs, `{"output":"forwarded"}`)
		var https []string
		for _, id := range []string{"1711529059204", "1711529077513", "1711529078719"} {
			if r.ran(id) {
				https = append(https, id)
			}
		}
		if len(https) != 1 || https[0] != want || len(r.http) != 1 || len(r.calls("classifier")) != classifications {
			t.Fatalf("HTTP nodes run %v (want %s), %d requests, %d classifications; ran %v", https, want, len(r.http), len(r.calls("classifier")), r.finished())
		}
	}
}

// chunkLetter names a chunk of the two-chunk translation input by its
// last letter.
func chunkLetter(chunk string) string {
	if chunk == "" {
		return "?"
	}
	return chunk[len(chunk)-1:]
}

// marker returns prefix and the letter after it, as first found in p.
func marker(p, prefix string) string {
	i := strings.Index(p, prefix)
	if i < 0 || i+len(prefix) >= len(p) {
		return prefix + "?"
	}
	return prefix + p[i+len(prefix):i+len(prefix)+1]
}
