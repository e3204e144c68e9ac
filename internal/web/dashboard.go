package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/bounced/bounced/internal/store"
)

// The dashboard: server-rendered pages for people, usable without
// JavaScript. Every table is plain HTML, every filter a GET form, every
// chart inline SVG (chart.go). The pages read the store only through its
// indexed queries and the daily tables, so they stay fast on a large
// database.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageRoutes registers the dashboard's pages.
func (s *Server) pageRoutes() {
	s.mux.HandleFunc("GET /static/{name}", serveStatic)
	s.mux.HandleFunc("GET /login", pageHeaders(s.pageLogin))
	s.mux.HandleFunc("POST /login", pageHeaders(s.postLogin))
	s.mux.HandleFunc("POST /logout", pageHeaders(s.withSession(Read, s.postLogout)))
	s.mux.HandleFunc("GET /{$}", pageHeaders(s.withSession(Read, s.pageOverview)))
	s.mux.HandleFunc("GET /bounces", pageHeaders(s.withSession(Read, s.pageBounces)))
	s.mux.HandleFunc("GET /address", pageHeaders(s.withSession(Read, s.pageAddress)))
	s.mux.HandleFunc("POST /address/release", pageHeaders(s.withSession(Admin, s.postRelease)))
	s.mux.HandleFunc("GET /suppressions", pageHeaders(s.withSession(Read, s.pageSuppressions)))
	s.mux.HandleFunc("GET /mailboxes", pageHeaders(s.withSession(Read, s.pageMailboxes)))
	s.mux.HandleFunc("GET /messages/{id}", pageHeaders(s.withSession(Read, s.pageMessage)))
}

// pageCSP is the pages' Content-Security-Policy: nothing from elsewhere,
// no inline script or style (the charts are SVG with presentation
// attributes, not style attributes).
const pageCSP = "default-src 'self'; style-src 'self'; img-src 'self' data:; script-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// pageHeaders sets the security headers of a page.
func pageHeaders(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", pageCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h(w, r)
	}
}

// staticFile is an embedded asset, served under a name that carries a
// hash of its content, so that it may be cached for good.
type staticFile struct {
	name string // e.g. style.1a2b3c4d5e.css
	typ  string
	body []byte
}

// staticFiles maps the plain name of each asset (style.css) to it, and
// staticServed its hashed name.
var staticFiles, staticServed = loadStatic()

func loadStatic() (byName, byHashed map[string]*staticFile) {
	byName, byHashed = map[string]*staticFile{}, map[string]*staticFile{}
	entries, _ := fs.ReadDir(staticFS, "static") // embedded: cannot fail
	for _, e := range entries {
		body, _ := fs.ReadFile(staticFS, "static/"+e.Name())
		sum := sha256.Sum256(body)
		ext := path.Ext(e.Name())
		f := &staticFile{
			name: strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:5]) + ext,
			typ:  mime.TypeByExtension(ext),
			body: body,
		}
		byName[e.Name()], byHashed[f.name] = f, f
	}
	return byName, byHashed
}

// staticURL is the URL of the asset of plain name (style.css).
func staticURL(name string) string {
	if f := staticFiles[name]; f != nil {
		return "/static/" + f.name
	}
	return "/static/" + name // not embedded: a 404 the page's test sees
}

// serveStatic serves an asset by its hashed name, cached for a year: a
// new version has a new name.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	f := staticServed[r.PathValue("name")]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.typ)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// pageTemplates holds each page's template, parsed with the layout.
var pageTemplates = parsePages()

func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html")
	out := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		out[strings.TrimSuffix(base, ".html")] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return out
}

// layout is what every page shows around its content: the title, the nav
// and who is logged in. Each page's data embeds it.
type layout struct {
	Title string
	Nav   string // the nav entry to mark: overview, bounces, suppressions, mailboxes
	// User is the token's name ("" on the login page); Admin tells
	// whether it may release; CSRF goes into every form that posts
	// ("" for a bearer token, which needs none).
	User  string
	Admin bool
	CSRF  string
	// Now is the server's clock, for ages ("3 min ago").
	Now   time.Time
	Error string // a problem to show above the content
	Flash string // a success to show above the content
}

// newLayout fills the layout of a page for p.
func (s *Server) newLayout(p *principal, title, nav string) layout {
	l := layout{Title: title, Nav: nav, Now: s.cfg.Now()}
	if p != nil {
		l.User, l.Admin = p.Name, p.may(Admin)
		if p.session != nil {
			l.CSRF = p.session.csrf()
		}
	}
	return l
}

// render writes the page of template name with data, and status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t := pageTemplates[name]
	var buf bytes.Buffer
	if t == nil {
		s.log.Error("http: no such page template", "page", name)
		http.Error(w, "internal error: the server's log says more", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.log.Error("http: rendering a page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error: the server's log says more", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) // a failed write is the client's going away
}

// errorPage is the data of the error page.
type errorPage struct {
	layout
	Status int
}

// pageError answers an error of the store on a page: not found,
// unavailable, or else an internal error, logged here (once).
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, p *principal, err error) {
	var status int
	var msg string
	switch {
	case errors.Is(err, store.ErrNotFound):
		status, msg = http.StatusNotFound, upperFirst(err.Error())+"."
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("http: database unavailable", "path", r.URL.Path, "err", err)
		status, msg = http.StatusServiceUnavailable, "The database is unavailable: try again in a moment."
	case r.Context().Err() != nil:
		return // the client went away
	default:
		s.log.Error("http: internal error", "path", r.URL.Path, "err", err)
		status, msg = http.StatusInternalServerError, "Internal error: the server's log says more."
	}
	s.pageStatus(w, r, p, status, msg)
}

// pageStatus answers with the error page: status and a message.
func (s *Server) pageStatus(w http.ResponseWriter, r *http.Request, p *principal, status int, msg string) {
	l := s.newLayout(p, http.StatusText(status), "")
	l.Error = msg
	s.render(w, r, status, "error", errorPage{layout: l, Status: status})
}
