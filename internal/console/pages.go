package console

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/repo"
)

// failErr renders err: not found as 404, a bad request as 400, anything
// else as a logged 500 with a generic message.
func (c *Console) failErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, repo.ErrNotFound), errors.Is(err, app.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "Not found.")
	case errors.Is(err, repo.ErrInvalid):
		c.fail(w, r, http.StatusBadRequest, "Invalid request.")
	default:
		c.log.ErrorContext(r.Context(), "console: read failed", "path", r.URL.Path, "err", err)
		c.fail(w, r, http.StatusInternalServerError, "The records could not be read. See the server log.")
	}
}

// appNames maps app ids to names (empty on error).
func (c *Console) appNames(r *http.Request) map[string]string {
	names := map[string]string{}
	apps, err := c.cfg.Apps.List(r.Context())
	if err != nil {
		return names
	}
	for _, a := range apps {
		names[a.ID] = a.Name
	}
	return names
}

// windows are the summary windows the apps page offers.
var windows = []struct {
	Name string
	D    time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

type appRow struct {
	App     *app.App
	Chat    bool
	Summary *repo.AppSummary
	Error   bool
}

type appsView struct {
	Window  string
	Windows []string
	Apps    []appRow
	Stats   bool
}

func (appsView) title() string { return "Apps" }

func (c *Console) appsPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Base+"/" {
		c.fail(w, r, http.StatusNotFound, "Not found.")
		return
	}
	v := appsView{Window: "24h", Stats: c.cfg.Summary != nil}
	d := 24 * time.Hour
	for _, win := range windows {
		v.Windows = append(v.Windows, win.Name)
		if win.Name == r.URL.Query().Get("window") {
			v.Window, d = win.Name, win.D
		}
	}
	apps, err := c.cfg.Apps.List(r.Context())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	since := c.cfg.Clock().Add(-d)
	for _, a := range apps {
		row := appRow{App: a, Chat: a.Workflow != nil && a.Workflow.Chat()}
		if c.cfg.Summary != nil {
			s, err := c.cfg.Summary.AppSummary(r.Context(), &repo.SummaryParams{AppID: a.ID, Since: since})
			if err != nil {
				c.log.ErrorContext(r.Context(), "console: summary", "app_id", a.ID, "err", err)
				row.Error = true
			}
			row.Summary = s
		}
		v.Apps = append(v.Apps, row)
	}
	c.render(w, r, http.StatusOK, "apps", v)
}

type runsView struct {
	App      *app.App
	Statuses []string
	Filter   runsFilter
	Result   *repo.RunListResult
	Prev     string
	Next     string
}

type runsFilter struct {
	Status, Keyword, User, From, To string
}

func (v runsView) title() string { return v.App.Name + " · runs" }

// runStatuses are the statuses the runs filter offers.
var runStatuses = []string{"running", "succeeded", "failed", "stopped", "partial-succeeded"}

// formTime is the format of <input type="datetime-local">, read as UTC.
const formTime = "2006-01-02T15:04"

func (c *Console) runsPage(w http.ResponseWriter, r *http.Request) {
	a, err := c.cfg.Apps.Get(r.Context(), chi.URLParam(r, "app"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	q := r.URL.Query()
	f := runsFilter{Status: q.Get("status"), Keyword: q.Get("keyword"), User: q.Get("user"), From: q.Get("from"), To: q.Get("to")}
	p := &repo.RunListParams{AppID: a.ID, Keyword: f.Keyword, SessionID: f.User, Limit: 20}
	for _, s := range runStatuses {
		if s == f.Status {
			p.Status = repo.Status(s)
		}
	}
	if t, err := time.Parse(formTime, f.From); err == nil {
		p.CreatedAfter = t
	}
	if t, err := time.Parse(formTime, f.To); err == nil {
		p.CreatedBefore = t
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 && n <= 100000 {
		p.Page = n
	}
	res, err := c.cfg.Runs.RunList(r.Context(), p)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	v := runsView{App: a, Statuses: runStatuses, Filter: f, Result: res}
	pageURL := func(n int) string {
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if res.Page > 1 {
		v.Prev = pageURL(res.Page - 1)
	}
	if res.HasMore {
		v.Next = pageURL(res.Page + 1)
	}
	c.render(w, r, http.StatusOK, "runs", v)
}

type runView struct {
	App      *app.App
	Run      *repo.WorkflowRun
	RunID    string
	Inputs   *value
	Outputs  *value
	Timeline [][]*item
	Live     bool
	Events   string
}

func (v runView) title() string { return v.App.Name + " · run " + truncateRunes(v.RunID, 8) }

func (c *Console) runPage(w http.ResponseWriter, r *http.Request) {
	a, err := c.cfg.Apps.Get(r.Context(), chi.URLParam(r, "app"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	id := chi.URLParam(r, "run")
	v := runView{App: a, RunID: id}
	if lr := c.cfg.Hub.get(id); lr != nil && lr.AppID == a.ID {
		v.Live, v.Events = true, runURL(a.ID, id)+"/events"
	}
	run, err := c.cfg.Runs.RunGet(r.Context(), &repo.RunGetParams{AppID: a.ID, RunID: id})
	switch {
	case errors.Is(err, repo.ErrNotFound) && v.Live:
		// Not stored yet (sync mode writes as it goes): the live view alone.
	case err != nil:
		c.failErr(w, r, err)
		return
	default:
		v.Run = run
		base := runURL(a.ID, id) + "/nodes/run/"
		v.Inputs, v.Outputs = newValue(run.Inputs, base+"inputs"), newValue(run.Outputs, base+"outputs")
		nodes, err := c.cfg.Runs.NodeExecutionList(r.Context(), &repo.NodeExecutionListParams{AppID: a.ID, RunID: id})
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		v.Timeline = buildTimeline(a.ID, nodes)
	}
	c.render(w, r, http.StatusOK, "run", v)
}

// nodeValue serves one whole value of a node execution as indented JSON
// text (the expand button of a truncated value fetches it).
//
// Node "run" is the run itself (inputs, outputs).
func (c *Console) nodeValue(w http.ResponseWriter, r *http.Request) {
	appID, runID, nodeID := chi.URLParam(r, "app"), chi.URLParam(r, "run"), chi.URLParam(r, "node")
	if nodeID == "run" {
		c.runValue(w, r, appID, runID)
		return
	}
	nodes, err := c.cfg.Runs.NodeExecutionList(r.Context(), &repo.NodeExecutionListParams{AppID: appID, RunID: runID})
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	for _, n := range nodes {
		if n.ID != nodeID {
			continue
		}
		var raw []byte
		switch chi.URLParam(r, "field") {
		case "inputs":
			raw = n.Inputs
		case "process_data":
			raw = n.ProcessData
		case "outputs":
			raw = n.Outputs
		case "metadata":
			raw = n.Metadata
		default:
			c.fail(w, r, http.StatusNotFound, "Not found.")
			return
		}
		writeText(w, raw)
		return
	}
	c.fail(w, r, http.StatusNotFound, "Not found.")
}

type liveView struct{ Events string }

func (liveView) title() string { return "Live" }

func (c *Console) livePage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "live", liveView{Events: Base + "/live/events"})
}

type convsView struct {
	App     *app.App
	Enabled bool
	Result  *repo.AppConversationListResult
	Page    int
	Prev    string
	Next    string
}

func (v convsView) title() string { return v.App.Name + " · conversations" }

func (c *Console) conversationsPage(w http.ResponseWriter, r *http.Request) {
	a, err := c.cfg.Apps.Get(r.Context(), chi.URLParam(r, "app"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	v := convsView{App: a, Enabled: c.cfg.Conversations != nil, Page: 1}
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 0 && n <= 100000 {
		v.Page = n
	}
	if v.Enabled {
		res, err := c.cfg.Conversations.AppConversationList(r.Context(), &repo.AppConversationListParams{AppID: a.ID, Page: v.Page, Limit: 20})
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		v.Result = res
		if v.Page > 1 {
			v.Prev = r.URL.Path + "?page=" + strconv.Itoa(v.Page-1)
		}
		if res.HasMore {
			v.Next = r.URL.Path + "?page=" + strconv.Itoa(v.Page+1)
		}
	}
	c.render(w, r, http.StatusOK, "conversations", v)
}

type convView struct {
	App      *app.App
	Conv     *repo.Conversation
	Messages []*repo.Message
	More     bool
}

func (v convView) title() string { return v.App.Name + " · " + truncateRunes(v.Conv.Name, 40) }

// maxMessages is how many of a conversation's latest messages the page
// shows.
const maxMessages = 100

func (c *Console) conversationPage(w http.ResponseWriter, r *http.Request) {
	a, err := c.cfg.Apps.Get(r.Context(), chi.URLParam(r, "app"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	if c.cfg.Chats == nil {
		c.fail(w, r, http.StatusNotFound, "Not found.")
		return
	}
	user, id := r.URL.Query().Get("user"), chi.URLParam(r, "conversation")
	conv, err := c.cfg.Chats.ConversationGet(r.Context(), a.ID, user, id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	msgs, err := c.cfg.Chats.MessageList(r.Context(), &repo.MessageListParams{AppID: a.ID, User: user, ConversationID: id, Limit: maxMessages})
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "conversation", convView{App: a, Conv: conv, Messages: msgs.Items, More: msgs.HasMore})
}

type healthView struct {
	Async bool
	Stats *QueueStats
	Error bool
	Live  int
}

func (healthView) title() string { return "Persister" }

func (c *Console) healthPage(w http.ResponseWriter, r *http.Request) {
	runs, _ := c.cfg.Hub.list(maxLiveList)
	v := healthView{Async: c.cfg.Queue != nil, Live: len(runs)}
	if v.Async {
		s, err := c.cfg.Queue.Stats(r.Context())
		if err != nil {
			c.log.ErrorContext(r.Context(), "console: queue stats", "err", err)
			v.Error = true
		}
		v.Stats = s
	}
	c.render(w, r, http.StatusOK, "health", v)
}

// runValue serves a run's inputs or outputs whole.
func (c *Console) runValue(w http.ResponseWriter, r *http.Request, appID, runID string) {
	run, err := c.cfg.Runs.RunGet(r.Context(), &repo.RunGetParams{AppID: appID, RunID: runID})
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	switch chi.URLParam(r, "field") {
	case "inputs":
		writeText(w, run.Inputs)
	case "outputs":
		writeText(w, run.Outputs)
	default:
		c.fail(w, r, http.StatusNotFound, "Not found.")
	}
}

// writeText writes a JSON value indented, as plain text.
func writeText(w http.ResponseWriter, raw []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(pretty(raw)))
}
