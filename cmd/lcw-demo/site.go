package main

import (
	"bytes"
	"compress/gzip"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
)

// strictCSP is the policy of the demo's strict page: nothing inline, nothing
// foreign. The proxy must make its injected scripts allowed without
// loosening any of it.
const strictCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed assets/site
var siteFiles embed.FS

// sitePage is what the site's templates show.
type sitePage struct {
	Title     string
	Prefix    string // the proxy's prefix, for sign-in links
	Path      string // this page's path, the post-login redirect
	User      string // from the proxy's identity header; "" when anonymous
	Simulated bool   // the simulated widget is in use
	CSP       string
}

// demoSite is the built-in "legacy site": a few plain pages that know
// nothing about chat, each exercising one thing the proxy must handle.
type demoSite struct {
	prefix    string
	simulated bool
	log       *slog.Logger
	pages     map[string]*template.Template
}

// newSite parses the site's templates; prefix is the proxy's, simulated
// tells the pages which widget the visitor will see.
func newSite(prefix string, simulated bool, log *slog.Logger) *demoSite {
	layout := template.Must(template.ParseFS(siteFiles, "assets/site/layout.html"))
	s := &demoSite{prefix: prefix, simulated: simulated, log: log, pages: map[string]*template.Template{}}
	for name, file := range map[string]string{
		"home": "home.html", "compressed": "compressed.html", "strict": "strict-csp.html", "public": "public.html",
		"notfound": "notfound.html",
	} {
		s.pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(siteFiles, "assets/site/"+file))
	}
	return s
}

// Handler serves the site's routes.
func (s *demoSite) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page("home", "Home", nil))
	mux.HandleFunc("GET /compressed.html", s.page("compressed", "Gzip page", gzipped))
	mux.HandleFunc("GET /strict-csp.html", s.page("strict", "Strict CSP page", func(w http.ResponseWriter, b []byte) []byte {
		w.Header().Set("Content-Security-Policy", strictCSP)
		return b
	}))
	mux.HandleFunc("GET /public/{$}", s.page("public", "Public page", nil))
	mux.HandleFunc("GET /static/site.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		http.ServeFileFS(w, r, siteFiles, "assets/site/site.css")
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// Everything else: a 404 in the site's own style, with a way back,
	// instead of the mux's plain-text one.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, "notfound", "Page not found", http.StatusNotFound, nil)
	})
	return mux
}

// page renders one template; finish may set headers and transform the
// body (compress it) before it is written.
func (s *demoSite) page(name, title string, finish func(http.ResponseWriter, []byte) []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, name, title, http.StatusOK, finish)
	}
}

// render writes template name as a page with status.
func (s *demoSite) render(w http.ResponseWriter, r *http.Request, name, title string, status int, finish func(http.ResponseWriter, []byte) []byte) {
	data := sitePage{
		Title:     title,
		Prefix:    s.prefix,
		Path:      r.URL.Path,
		User:      r.Header.Get("X-Forwarded-Email"),
		Simulated: s.simulated,
		CSP:       strictCSP,
	}
	if data.User == "" {
		data.User = r.Header.Get("X-Forwarded-User")
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		s.log.Error("demo site: render page", slog.String("page", name), slog.String("error", err.Error()))
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	body := buf.Bytes()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The page shows who is signed in, so no shared cache may keep it.
	w.Header().Set("Cache-Control", "private, no-cache")
	if finish != nil {
		body = finish(w, body)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to do
}

// gzipped compresses the body, as sites that pre-compress their pages do,
// whatever the request accepted: the proxy must cope.
func gzipped(w http.ResponseWriter, body []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(body) // writes to a bytes.Buffer cannot fail
	_ = zw.Close()
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	return buf.Bytes()
}
