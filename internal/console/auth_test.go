package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAuth: no key, a wrong key, an app key, a forged or emptied cookie
// all get 401 on every page; the console and admin keys open it; the
// login form sets an HttpOnly, SameSite=Strict session cookie.
func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runID := e.runWorkflow(t, diamond, map[string]any{"query": "secret-input"})
	paths := []string{"/console/", "/console/live", "/console/health", "/console/apps/" + diamond.ID + "/runs",
		"/console/apps/" + diamond.ID + "/runs/" + runID, "/console/apps/" + chat.ID + "/conversations",
		"/console/live/events", "/console/apps/" + diamond.ID + "/runs/" + runID + "/events"}
	for _, p := range paths {
		for _, auth := range []string{"", "Bearer wrong-key-123456", "Bearer " + diamond.Key, "Basic " + consoleKey, "Bearer "} {
			if code, body := e.get(t, p, auth); code != http.StatusUnauthorized || strings.Contains(body, "secret-input") {
				t.Errorf("GET %s with %q: %d (or the run's data leaked), want 401", p, auth, code)
			}
		}
		for _, c := range []*http.Cookie{{Name: "flowrun_console", Value: "x.9999999999.forged"}, {Name: "flowrun_console", Value: ""}} {
			if code, _ := e.get(t, p, "", c); code != http.StatusUnauthorized {
				t.Errorf("GET %s with cookie %q: %d, want 401", p, c.Value, code)
			}
		}
	}
	for _, key := range []string{consoleKey, adminKey} {
		if code, body := e.get(t, "/console/apps/"+diamond.ID+"/runs", "Bearer "+key); code != http.StatusOK || !strings.Contains(body, runID) {
			t.Errorf("with a valid key: %d", code)
		}
	}

	login := func(key, origin string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/console/login",
			strings.NewReader(url.Values{"key": {key}, "next": {"//evil.example/"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := login(diamond.Key, ""); res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Errorf("login with an app key: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	if res := login(consoleKey, "http://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin login: %d, want 403", res.StatusCode)
	}
	res := login(consoleKey, e.url)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("login: %d to %q, want 303 to /console/ (never an open redirect)", res.StatusCode, res.Header.Get("Location"))
	}
	cookies := res.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Path != "/console" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console", cookies)
	}
	code, body := e.get(t, "/console/", "", cookies[0])
	if code != http.StatusOK || !strings.Contains(body, "diamond") {
		t.Fatalf("with the session: %d", code)
	}
	// A tampered session (another expiry) is refused.
	parts := strings.Split(cookies[0].Value, ".")
	parts[1] = "9999999999"
	if code, _ := e.get(t, "/console/", "", &http.Cookie{Name: "flowrun_console", Value: strings.Join(parts, ".")}); code != http.StatusUnauthorized {
		t.Errorf("tampered session: %d, want 401", code)
	}
	// Logging out needs the session's token.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/console/logout", strings.NewReader("csrf=nope"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookies[0])
	out, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if out.StatusCode != http.StatusForbidden {
		t.Errorf("logout without the token: %d, want 403", out.StatusCode)
	}
	// Every page sets the policy.
	hres, err := http.Get(e.url + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if csp := hres.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
}
