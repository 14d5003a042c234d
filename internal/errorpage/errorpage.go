// Package errorpage writes the user-facing error answers of the proxy: a
// small HTML page, or JSON for API clients, never any internal detail.
// Every JSON error body the proxy writes goes through WriteJSON.
package errorpage

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// Format is the form of an error answer.
type Format int

const (
	HTML Format = iota // a small page for people
	JSON               // {"error", "status"} for scripts and API clients
)

// FormatFor is the form the client asked for: JSON when its Accept header
// ranks application/json at least as high as text/html, a page otherwise.
// Callers that know better (a 401 for a script) pass JSON themselves.
func FormatFor(r *http.Request) Format {
	if request.WantsJSON(r, "text/html") {
		return JSON
	}
	return HTML
}

// Status answers with a small page (or JSON) that names the status and
// nothing about the upstream or the proxy's internals.
func Status(w http.ResponseWriter, f Format, status int) {
	Write(w, f, status, statusMessage(status))
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

// Write writes a user-facing error in form f. msg is escaped.
func Write(w http.ResponseWriter, f Format, status int, msg string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if f == JSON {
		WriteJSON(w, status, JSONError{Error: msg, Status: status})
		return
	}
	page(w, status, "default-src 'none'; style-src 'unsafe-inline'", "<p>"+html.EscapeString(msg)+"</p>")
}

// Unavailable answers 503 for a passing outage (the IdP or the session
// store cannot be reached) with Retry-After. A page asked for with GET or
// HEAD reloads itself after that delay, so a person who arrived while the
// proxy was starting or a dependency blinked gets where they were going
// without pressing reload; any other method is never repeated by itself.
func Unavailable(w http.ResponseWriter, r *http.Request, retryAfter time.Duration, msg string) {
	secs := strconv.Itoa(max(1, int(retryAfter.Round(time.Second)/time.Second)))
	w.Header().Set("Retry-After", secs)
	f := FormatFor(r)
	if f == JSON || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		Write(w, f, http.StatusServiceUnavailable, msg)
		return
	}
	writePage(w, http.StatusServiceUnavailable, "default-src 'none'; style-src 'unsafe-inline'",
		`<meta http-equiv="refresh" content="`+secs+`">`,
		"<p>"+html.EscapeString(msg)+"</p><p>This page tries again by itself in "+secs+" seconds.</p>")
}

// page writes the HTML error page: the status as title and heading, then
// body (HTML the caller escaped), under csp.
func page(w http.ResponseWriter, status int, csp, body string) {
	writePage(w, status, csp, "", body)
}

// writePage is page with head (trusted HTML) added to the page's head.
// No error page is stored by any cache or sniffed as another type.
func writePage(w http.ResponseWriter, status int, csp, head, body string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	text := html.EscapeString(http.StatusText(status))
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8">%s<title>%d %s</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;color:#222}code{overflow-wrap:anywhere}</style></head>
<body><h1>%d %s</h1>%s</body></html>
`, head, status, text, status, text, body)
}

// Refusal is what the 403 page says to a signed-in visitor the site's
// rules refuse.
type Refusal struct {
	Who     string // who is signed in, as they would recognise it
	Rule    string // the rule that refused them
	SignOut string // the logout endpoint, posted to from the page
}

// Refused answers 403 naming who is signed in and the rule, with a button
// that signs out (a same-origin POST, which the logout endpoint takes at
// once) so another account can be used. Every value is escaped: the name
// comes from the IdP's claims.
func Refused(w http.ResponseWriter, f Format, e Refusal) {
	msg := fmt.Sprintf("You are signed in as %s, but this site lets you in only if: %s.", e.Who, e.Rule)
	if f == JSON {
		Write(w, f, http.StatusForbidden, msg)
		return
	}
	page(w, http.StatusForbidden, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
		fmt.Sprintf(`<p>You are signed in as <strong>%s</strong>, but this site lets you in only if: <code>%s</code>.</p>
<p>If that is the wrong account, sign out and sign in with another one.</p>
<form method="post" action="%s"><button type="submit">Sign out / switch user</button></form>`,
			html.EscapeString(e.Who), html.EscapeString(e.Rule), html.EscapeString(e.SignOut)))
}

// JSONError is the proxy's one JSON error shape: "error" always, and
// "status" (the HTTP status again) in the answers Write gives scripts; the
// endpoints whose contract names only "error" (the token endpoints, OpenID
// back-channel logout) leave it out.
type JSONError struct {
	Error  string `json:"error"`
	Status int    `json:"status,omitempty"`
}

// WriteJSON answers status with e as application/json. encoding/json builds
// the body, so any message is valid JSON: quotes, backslashes and control
// characters escaped, U+2028/9 and <, >, & too, invalid UTF-8 replaced.
// Other headers (Cache-Control, nosniff) are the caller's.
func WriteJSON(w http.ResponseWriter, status int, e JSONError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e) // a write error means the client went away
}
