package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// view is what the layout renders around a page.
type view struct {
	Title  string
	Active string // the nav entry to highlight
	CSRF   string // the session's CSRF token, for the forms of the page
	Authed bool
	Flash  *flash
	Now    time.Time
	Data   any
}

// flash is a one-line message shown after an action.
type flash struct {
	OK      bool
	Message string
}

type errorPage struct {
	Title   string
	Message string
}

// parsePages parses each page template together with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/_*.html", name)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes a page with status 200.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, page, title, active string, data any) error {
	return h.renderView(w, r, http.StatusOK, page, view{Title: title, Active: active, Data: data})
}

// renderStatus writes a page without navigation (login, errors).
func (h *Handler) renderStatus(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	title := "tokenkeeper admin"
	if e, ok := data.(errorPage); ok {
		title = e.Title
	}
	if err := h.renderView(w, r, status, page, view{Title: title, Data: data}); err != nil {
		h.cfg.Logger.Error("render admin page", "page", page, "error", err)
	}
}

func (h *Handler) renderView(w http.ResponseWriter, r *http.Request, status int, page string, v view) error {
	t, ok := h.pages[page]
	if !ok {
		return fmt.Errorf("no page template %s", page)
	}
	v.Now = h.cfg.Now()
	if s := sessionFrom(r.Context()); s != nil {
		v.Authed, v.CSRF = true, s.csrf
	}
	if v.Flash == nil {
		v.Flash = flashFrom(r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// fail answers an error: 404 for an unknown connection or delivery, 500
// (logged, with a generic message) for anything else.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if tokenkeeper.ErrorCode(err) == tokenkeeper.CodeAccountNotFound || errors.Is(err, tokenkeeper.ErrNotFound) {
		h.renderStatus(w, r, http.StatusNotFound, "error.html", errorPage{Title: "Not found", Message: "There is no such connection or delivery."})
		return
	}
	h.cfg.Logger.Error("admin page failed", "route", r.Pattern, "error", err)
	h.renderStatus(w, r, http.StatusInternalServerError, "error.html", errorPage{Title: "Something went wrong", Message: "The page could not be built; the error is in tokenkeeper's log."})
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.renderStatus(w, r, http.StatusNotFound, "error.html", errorPage{Title: "Not found", Message: "There is no such page."})
}

// asset serves an embedded CSS or JavaScript file.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := assetFiles.ReadFile("assets/" + name)
	if err != nil || strings.Contains(name, "/") {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "private, max-age=300")
	_, _ = w.Write(b)
}

// Flash messages travel in the redirect's query string as a fixed code
// (and an error code), never as free text.
var flashMessages = map[string]flash{
	"refreshed":      {OK: true, Message: "Refreshed: the provider issued a new access token."},
	"refresh_failed": {Message: "The refresh failed"},
	"disconnected":   {OK: true, Message: "Disconnected: the tokens were revoked where the provider allows it, and erased."},
	"retried":        {OK: true, Message: "The delivery is queued to be sent again."},
	"not_dead":       {Message: "Only a dead delivery can be retried; this one is pending or delivered"},
}

func flashFrom(r *http.Request) *flash {
	f, ok := flashMessages[r.URL.Query().Get("flash")]
	if !ok {
		return nil
	}
	if code := r.URL.Query().Get("code"); code != "" && validCode(code) {
		f.Message += " (" + code + ")."
	} else if !f.OK {
		f.Message += "."
	}
	return &f
}

// validCode reports whether s looks like an error code: A–Z and _, at most 40.
func validCode(s string) bool {
	if len(s) > 40 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}
