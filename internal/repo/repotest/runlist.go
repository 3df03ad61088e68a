package repotest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
)

// seedLogs writes n runs of app with logs created one second apart, oldest
// first, and returns the logs newest first.
func seedLogs(t *testing.T, s repo.Store, app string, n int, mutate func(i int, r *repo.WorkflowRun)) []*repo.AppLog {
	t.Helper()
	b := &repo.Batch{}
	var logs []*repo.AppLog
	for i := range n {
		r := runFixture(app, baseTime.Add(time.Duration(i)*time.Second))
		if mutate != nil {
			mutate(i, r)
		}
		l := logFixture(r)
		b.Runs = append(b.Runs, r)
		b.AppLogs = append(b.AppLogs, l)
		logs = append(logs, l)
	}
	write(t, s, b)
	sort.SliceStable(logs, func(i, j int) bool { return logs[i].CreatedAt.After(logs[j].CreatedAt) })
	return logs
}

func requirePage(t *testing.T, res *repo.RunListResult, want []*repo.AppLog, total int64, hasMore bool) {
	t.Helper()
	var got []string
	for _, it := range res.Items {
		got = append(got, it.Log.ID)
		if it.Run == nil || it.Run.ID != it.Log.WorkflowRunID {
			t.Fatalf("item %s: run %+v does not match its log", it.Log.ID, it.Run)
		}
	}
	var w []string
	for _, l := range want {
		w = append(w, strings.ToLower(l.ID))
	}
	if !reflect.DeepEqual(got, w) || res.Total != total || res.HasMore != hasMore {
		t.Fatalf("page: got ids %v total %d has_more %v\nwant ids %v total %d has_more %v", got, res.Total, res.HasMore, w, total, hasMore)
	}
}

func testRunListPagination(t *testing.T, s repo.Store) {
	logs := seedLogs(t, s, "app-1", 25, nil)
	seedLogs(t, s, "app-2", 3, nil)

	res := list(t, s, &repo.RunListParams{AppID: "app-1", Page: 1, Limit: 10})
	requirePage(t, res, logs[:10], 25, true)
	if res.Page != 1 || res.Limit != 10 {
		t.Fatalf("page %d limit %d, want 1 10", res.Page, res.Limit)
	}
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 2, Limit: 10}), logs[10:20], 25, true)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 3, Limit: 10}), logs[20:], 25, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 4, Limit: 10}), nil, 25, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 5, Limit: 5}), logs[20:], 25, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 1, Limit: 25}), logs, 25, false)

	res = list(t, s, &repo.RunListParams{AppID: "app-1"})
	requirePage(t, res, logs[:repo.DefaultLimit], 25, true)
	if res.Page != repo.DefaultPage || res.Limit != repo.DefaultLimit {
		t.Fatalf("defaults: page %d limit %d", res.Page, res.Limit)
	}
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-3"}), nil, 0, false)
}

func testRunListFilters(t *testing.T, s repo.Store) {
	statuses := []repo.Status{repo.StatusSucceeded, repo.StatusFailed, repo.StatusStopped, repo.StatusRunning}
	logs := seedLogs(t, s, "app-1", 12, func(i int, r *repo.WorkflowRun) {
		if st := statuses[i%len(statuses)]; st != repo.StatusRunning {
			*r = *finish(r, st, 5)
		}
		r.SessionID = fmt.Sprintf("session-%d", i%3)
	})
	byStatus := func(st repo.Status) []*repo.AppLog {
		var out []*repo.AppLog
		for _, l := range logs {
			i := int(l.CreatedAt.Sub(baseTime) / time.Second)
			if statuses[i%len(statuses)] == st {
				out = append(out, l)
			}
		}
		return out
	}
	for _, st := range statuses {
		want := byStatus(st)
		requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Status: st}), want, int64(len(want)), false)
	}
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Status: repo.StatusPaused}), nil, 0, false)

	// created_at bounds are inclusive. logs[0] is the newest (i=11).
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedBefore: logs[9].CreatedAt}), logs[9:], 3, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedAfter: logs[2].CreatedAt}), logs[:3], 3, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedAfter: logs[6].CreatedAt, CreatedBefore: logs[4].CreatedAt}), logs[4:7], 3, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedAfter: logs[4].CreatedAt, CreatedBefore: logs[6].CreatedAt}), nil, 0, false)
	// Bounds in another time zone mean the same instants.
	east := time.FixedZone("UTC+8", 8*3600)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedBefore: logs[9].CreatedAt.In(east)}), logs[9:], 3, false)

	// Session filter (exact) combined with paging and status.
	var s1 []*repo.AppLog
	for _, l := range logs {
		if i := int(l.CreatedAt.Sub(baseTime) / time.Second); i%3 == 1 {
			s1 = append(s1, l)
		}
	}
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session-1"}), s1, 4, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session-1", Limit: 3}), s1[:3], 4, true)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session-1", Limit: 3, Page: 2}), s1[3:], 4, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session"}), nil, 0, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-2", SessionID: "session-1"}), nil, 0, false)
	// i%3==1 and i%4==0 (succeeded): i=4.
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session-1", Status: repo.StatusSucceeded}), logs[7:8], 1, false)
}

func testRunListKeyword(t *testing.T, s repo.Store) {
	logs := seedLogs(t, s, "app-1", 6, func(i int, r *repo.WorkflowRun) {
		switch i {
		case 0:
			r.Inputs = json.RawMessage(`{"query":"Tell me about Photosynthesis in detail"}`)
		case 1:
			*r = *finish(r, repo.StatusSucceeded, 4)
			r.Outputs = json.RawMessage(`{"text":"photosynthesis is how plants eat"}`)
		case 2:
			r.Inputs = json.RawMessage(`{"query":"100% sure_thing"}`)
		case 3:
			r.Inputs = json.RawMessage(`{"query":"100 percent sure"}`)
		case 4:
			r.Inputs = json.RawMessage(`{"query":"春联生成器"}`)
		case 5:
			r.Inputs = json.RawMessage(`{"query":"nothing"}`)
		}
		r.SessionID = fmt.Sprintf("user-%d", i)
	})
	// logs are newest first: logs[5-i] belongs to run i.
	at := func(is ...int) []*repo.AppLog {
		var out []*repo.AppLog
		for _, i := range is {
			out = append(out, logs[5-i])
		}
		return out
	}
	kw := func(k string) *repo.RunListParams { return &repo.RunListParams{AppID: "app-1", Keyword: k} }
	requirePage(t, list(t, s, kw("PHOTOSYNTHESIS")), at(1, 0), 2, false)
	requirePage(t, list(t, s, kw("plants")), at(1), 1, false)
	requirePage(t, list(t, s, kw("100%")), at(2), 1, false) // % is literal
	requirePage(t, list(t, s, kw("e_t")), at(2), 1, false)  // so is _
	requirePage(t, list(t, s, kw("生成")), at(4), 1, false)
	requirePage(t, list(t, s, kw("USER-3")), at(3), 1, false) // the log's session id
	requirePage(t, list(t, s, kw("zebra")), nil, 0, false)

	// A UUID keyword also matches the run id exactly.
	run3 := logs[5-3].WorkflowRunID
	requirePage(t, list(t, s, kw(strings.ToUpper(run3))), at(3), 1, false)
	// Only the first 30 characters count.
	requirePage(t, list(t, s, kw("Tell me about Photosynthesis i"+"XYZ not in any run")), at(0), 1, false)
	// Keyword with status.
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Keyword: "photosynthesis", Status: repo.StatusSucceeded}), at(1), 1, false)
}

func testRunListOrderTies(t *testing.T, s repo.Store) {
	b := &repo.Batch{}
	var logs []*repo.AppLog
	for range 6 {
		r := runFixture("app-1", baseTime)
		l := logFixture(r)
		b.Runs, b.AppLogs = append(b.Runs, r), append(b.AppLogs, l)
		logs = append(logs, l)
	}
	write(t, s, b)
	sort.Slice(logs, func(i, j int) bool { return logs[i].ID > logs[j].ID })
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Limit: 4}), logs[:4], 6, true)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Limit: 4, Page: 2}), logs[4:], 6, false)
}

func testRunListMissingRun(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	l := logFixture(r)
	write(t, s, &repo.Batch{AppLogs: []*repo.AppLog{l}})
	res := list(t, s, &repo.RunListParams{AppID: "app-1"})
	if len(res.Items) != 1 || res.Items[0].Run != nil {
		t.Fatalf("log without run: %s", dump(res))
	}
	requireLog(t, l, res.Items[0].Log)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Status: repo.StatusRunning}), nil, 0, false)
	// The run arrives later.
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}})
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Status: repo.StatusRunning}), []*repo.AppLog{l}, 1, false)

	// A log never shows a run of another app.
	other := runFixture("app-2", baseTime)
	ol := logFixture(other)
	ol.AppID = "app-1"
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{other}, AppLogs: []*repo.AppLog{ol}})
	res = list(t, s, &repo.RunListParams{AppID: "app-1", Keyword: other.ID})
	if res.Total != 0 {
		t.Fatalf("keyword matched a run of another app: %s", dump(res))
	}
	res = list(t, s, &repo.RunListParams{AppID: "app-1"})
	for _, it := range res.Items {
		if it.Log.ID == ol.ID && it.Run != nil {
			t.Fatalf("log shows a run of another app: %s", dump(it))
		}
	}
}

func testRunListInvalid(t *testing.T, s repo.Store) {
	for _, p := range []*repo.RunListParams{
		{AppID: "app-1", Page: -1},
		{AppID: "app-1", Limit: -1},
	} {
		_, err := s.RunList(ctx(t), p)
		requireErr(t, err, repo.ErrInvalid)
	}
}

func testConcurrentWriters(t *testing.T, s repo.Store) {
	const runs, nodes, writers = 10, 4, 4
	var all []*repo.Batch
	var finals []*repo.WorkflowRun
	var finalNodes [][]*repo.NodeExecution
	for i := range runs {
		r := runFixture("app-1", baseTime.Add(time.Duration(i)*time.Second))
		var ns, done []*repo.NodeExecution
		for j := int64(1); j <= nodes; j++ {
			n := nodeFixture(r, j)
			ns = append(ns, n)
			done = append(done, finishNode(n, repo.StatusSucceeded, 10+j))
		}
		fr := finish(r, repo.StatusSucceeded, 20)
		all = append(all,
			&repo.Batch{Runs: []*repo.WorkflowRun{r}, AppLogs: []*repo.AppLog{logFixture(r)}},
			&repo.Batch{NodeExecutions: ns},
			&repo.Batch{NodeExecutions: done},
			&repo.Batch{Runs: []*repo.WorkflowRun{fr}, NodeExecutions: done},
		)
		finals = append(finals, fr)
		finalNodes = append(finalNodes, done)
	}
	// Every writer writes every batch, each in its own order: rotated, and
	// reversed for odd writers.
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			for k := range all {
				i := (k + w*7) % len(all)
				if w%2 == 1 {
					i = len(all) - 1 - i
				}
				b := all[i]
				if err := s.Write(ctx(t), b); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatalf("concurrent Write: %v", err)
		}
	}
	for i, r := range finals {
		requireRun(t, r, getRun(t, s, r.AppID, r.ID))
		requireNodes(t, finalNodes[i], listNodes(t, s, r.AppID, r.ID))
	}
	if res := list(t, s, &repo.RunListParams{AppID: "app-1", Limit: 100}); res.Total != runs {
		t.Fatalf("RunList total %d, want %d", res.Total, runs)
	}
}
