// Package errorpage writes the user-facing error answers of the proxy: a
// small HTML page, or JSON for API clients, never any internal detail.
package errorpage

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// Status answers with a small page (or JSON for API clients) that
// names the status and nothing about the upstream or the proxy's internals.
func Status(w http.ResponseWriter, r *http.Request, status int) {
	Write(w, r, status, statusMessage(status))
}

func statusMessage(status int) string {
	switch status {
	case http.StatusBadGateway:
		return "The site is unavailable right now. Please try again in a moment."
	case http.StatusGatewayTimeout:
		return "The site took too long to answer. Please try again in a moment."
	case http.StatusForbidden:
		return "You are signed in but not allowed to see this page."
	case http.StatusUnauthorized:
		return "Please sign in to continue."
	case http.StatusServiceUnavailable:
		return "Sign-in is unavailable right now. Please try again in a moment."
	}
	return http.StatusText(status)
}

// Write writes a user-facing error: JSON when the client prefers it,
// otherwise a plain HTML page. msg is escaped.
func Write(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if WantsJSON(r) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"status":%d}`+"\n", msg, status)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>%d %s</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;color:#222}</style></head>
<body><h1>%d %s</h1><p>%s</p></body></html>
`, status, html.EscapeString(http.StatusText(status)), status, html.EscapeString(http.StatusText(status)), html.EscapeString(msg))
}

// WantsJSON reports whether the client asked for JSON rather than a page.
func WantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}
