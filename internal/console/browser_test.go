package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts a headless Chromium with a fresh profile and no network
// beyond loopback, and returns a context driving one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := chromium()
	if err != nil {
		t.Fatalf("%v: install Debian's chromium (scripts/test.sh does) or set CHROMIUM", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// screenshot saves the page as docs/console/<name>.png when
// FLOWRUN_CONSOLE_SCREENSHOTS names the directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("FLOWRUN_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// do runs steps, failing the test with what on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a script expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// text returns the text of the first element sel selects.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// TestBrowser drives the console in Chromium: logging in, every page, a
// run appearing live and finishing, a diamond's branches side by side,
// an iteration's rounds, a truncated value expanded, and a stored
// <script> shown as text and never run.
func TestBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := browser(t)

	do(t, ctx, "log in",
		chromedp.Navigate(e.url+"/console/apps/"+diamond.ID+"/runs"),
		chromedp.WaitVisible(css(`input[name=key]`)),
		chromedp.SendKeys(css(`input[name=key]`), consoleKey),
		chromedp.Submit(css(`input[name=key]`)),
		chromedp.WaitVisible(css(`#runs`)),
	)

	// A run appears live, its node starts, then it finishes and the page
	// shows its timeline.
	do(t, ctx, "live page", chromedp.Navigate(e.url+"/console/live"), chromedp.WaitVisible(css(`#live-empty`)))
	done := make(chan string, 1)
	go func() {
		// The run blocks until released; its answer is not needed.
		e.post(t, "/v1/workflows/run", block.Key, map[string]any{"inputs": map[string]any{"query": "slow"}, "user": "watcher"})
		done <- "ok"
	}()
	runID := e.waitBlocked(t)
	do(t, ctx, "the run appears live", chromedp.WaitVisible(css(fmt.Sprintf(`#live-runs tr[data-run-id="%s"]`, runID))))
	screenshot(t, ctx, "live")
	do(t, ctx, "open the live run",
		chromedp.Click(css(fmt.Sprintf(`#live-runs tr[data-run-id="%s"] a`, runID))),
		chromedp.WaitVisible(css(`#live-events li[data-type="node_started"][data-node-id="block"]`)),
	)
	screenshot(t, ctx, "run-live")
	e.release()
	<-done
	do(t, ctx, "the finished run's timeline", chromedp.WaitVisible(css(`#timeline details[data-node-id="end"]`)))
	if status := text(t, ctx, `#run-status`); status != "succeeded" {
		t.Errorf("run status %q after it finished", status)
	}

	// A diamond's branches side by side; a stored <script> as text.
	const evil = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">`
	diamondRun := e.runWorkflow(t, diamond, map[string]any{"query": evil})
	do(t, ctx, "diamond timeline", chromedp.Navigate(e.url+"/console/apps/"+diamond.ID+"/runs/"+diamondRun), chromedp.WaitVisible(css(`#timeline`)))
	branches := eval[[]string](t, ctx, `[...document.querySelectorAll('#timeline .row.parallel > details.node')].map(n => n.dataset.nodeId).sort()`)
	if strings.Join(branches, ",") != "left,right" {
		t.Errorf("side-by-side row holds %v, want left and right", branches)
	}
	if pwned, scripts := eval[bool](t, ctx, `window.pwned !== undefined`), eval[int](t, ctx, `document.scripts.length`); pwned || scripts != 1 {
		t.Errorf("stored markup ran: pwned %v, %d scripts", pwned, scripts)
	}
	if shown := eval[string](t, ctx, `document.querySelector('pre.value').textContent`); !strings.Contains(shown, `<script>window.pwned=1</script><img src=x onerror=`) {
		t.Errorf("inputs shown as %q, want the script as text", shown)
	}
	eval[any](t, ctx, `document.querySelectorAll('details.node').forEach(d => d.open = true)`)
	screenshot(t, ctx, "run")

	// An iteration's rounds, nested under it; a long value expands.
	long := strings.Repeat("x", 3000)
	iterRun := e.runWorkflow(t, iter, map[string]any{"data": map[string]any{"items": []any{"a", long, "c"}}})
	do(t, ctx, "iteration timeline", chromedp.Navigate(e.url+"/console/apps/"+iter.ID+"/runs/"+iterRun), chromedp.WaitVisible(css(`#timeline`)))
	rounds := eval[[]string](t, ctx, `[...document.querySelectorAll('details.node[data-node-id="it"] + .rounds > .round')].map(r => r.dataset.round)`)
	inside := eval[int](t, ctx, `document.querySelectorAll('.rounds .round details.node[data-node-id="fmt"]').length`)
	if strings.Join(rounds, ",") != "0,1,2" || inside != 3 {
		t.Errorf("iteration rounds %v with %d format nodes, want 0,1,2 with 3", rounds, inside)
	}
	eval[any](t, ctx, `document.querySelectorAll('details.node').forEach(d => d.open = true)`)
	const button = `button.expand[data-src$="/nodes/run/inputs"]`
	before := eval[int](t, ctx, `document.querySelector('`+button+`').previousElementSibling.textContent.length`)
	do(t, ctx, "expand a long value", chromedp.Click(css(button)), chromedp.WaitNotPresent(css(button)))
	after := eval[int](t, ctx, `document.querySelector('pre.value').textContent.length`)
	if before > 2100 || after < 3000 {
		t.Errorf("long value: %d characters before expanding, %d after", before, after)
	}

	// Every other page.
	e.post(t, "/v1/chat-messages", chat.Key, map[string]any{"inputs": map[string]any{}, "query": "<b>hello</b>", "user": "chatter", "response_mode": "blocking"})
	do(t, ctx, "apps page", chromedp.Navigate(e.url+"/console/?window=1h"), chromedp.WaitVisible(css(`#apps`)))
	if apps := text(t, ctx, `#apps`); !contains(apps, "diamond", "iteration", "block") {
		t.Errorf("apps page: %q", apps)
	}
	screenshot(t, ctx, "apps")
	do(t, ctx, "runs page filtered", chromedp.Navigate(e.url+"/console/apps/"+diamond.ID+"/runs?status=succeeded&keyword=pwned&user=tester"),
		chromedp.WaitVisible(css(`#runs`)))
	if runs := text(t, ctx, `#runs`); !strings.Contains(runs, diamondRun) {
		t.Errorf("runs page: %q", runs)
	}
	screenshot(t, ctx, "runs")
	do(t, ctx, "conversations", chromedp.Navigate(e.url+"/console/apps/"+chat.ID+"/conversations"),
		chromedp.Click(css(`#conversations a`)), chromedp.WaitVisible(css(`#messages`)))
	if msg := text(t, ctx, `#messages .query p`); msg != "<b>hello</b>" {
		t.Errorf("message shown as %q", msg)
	}
	screenshot(t, ctx, "conversation")
	do(t, ctx, "persister page", chromedp.Navigate(e.url+"/console/health"), chromedp.WaitVisible(css(`main`)))
	if health := text(t, ctx, `main`); !strings.Contains(health, "Not in async mode") {
		t.Errorf("persister page: %q", health)
	}
}
