package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// funcs are the helpers templates call.
var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"secs": func(s float64) string {
		switch {
		case s == 0:
			return "0"
		case s < 0.001:
			return fmt.Sprintf("%.0f µs", s*1e6)
		case s < 1:
			return fmt.Sprintf("%.1f ms", s*1e3)
		}
		return fmt.Sprintf("%.2f s", s)
	},
	"pct":     func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"runURL":  runURL,
	"appURL":  func(id, page string) string { return Base + "/apps/" + url.PathEscape(id) + "/" + page },
	"short":   func(id string) string { return truncateRunes(id, 8) },
	"convURL": convURL,
}

func runURL(appID, runID string) string {
	return Base + "/apps/" + url.PathEscape(appID) + "/runs/" + url.PathEscape(runID)
}

func convURL(appID, convID, user string) string {
	return Base + "/apps/" + url.PathEscape(appID) + "/conversations/" + url.PathEscape(convID) + "?user=" + url.QueryEscape(user)
}

// parsePages parses each page template with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" || base == "node" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/node.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// page is what the layout reads; Data is the page's own view.
type page struct {
	Title  string
	Nav    string
	CSRF   string
	Authed bool
	Data   any
}

// render writes page name with data, buffered so that a template error
// becomes a clean 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	p := page{Title: name, Nav: name, Data: data}
	if id := sessionFrom(r.Context()); id != "" {
		p.CSRF, p.Authed = c.auth.csrf(id), true
	}
	if t, ok := data.(interface{ title() string }); ok {
		p.Title = t.title()
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.ErrorContext(r.Context(), "console: rendering", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type failView struct{ Message string }

// fail renders an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", failView{Message: msg})
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
