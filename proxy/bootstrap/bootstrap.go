// Package bootstrap serves the script the injector adds to HTML pages: it
// defines the configured JavaScript client function (callback and Promise
// in one, reusing a fresh token of the same session), registers it with the
// Omnichannel widget's setAuthTokenProvider, and reports the widget's
// authentication errors and a browser clock that runs ahead back to
// {prefix}/client-events.
package bootstrap

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"text/template"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

//go:embed bootstrap.js.tmpl
var scriptSource string

// tokenTimeout is how long the script waits for {prefix}/token before it
// calls back with "": well inside the widget's 10-second limit.
const tokenTimeout = 8 * time.Second

// clockSkewTolerance is how far the browser's clock may run ahead of the
// server's before the script warns and reports it: the widget checks exp
// against the browser's clock with no margin, so a clock this far ahead
// already eats a real share of a 10-minute token, and a token's iat (whole
// seconds, plus network time) cannot measure much finer anyway.
const clockSkewTolerance = time.Minute

// Options configure the bootstrap script and its endpoints.
type Options struct {
	// Paths are the proxy's endpoints: the script asks Paths.Token, sends
	// the visitor to Paths.Login and reports to Paths.ClientEvents.
	Paths config.Paths
	// SessionHeader is the token endpoint's response header that names
	// the visitor's session (token.SessionHeader): the script reuses a
	// token only while it stays the same.
	SessionHeader string
	// ClientFunction is the global the script defines, e.g.
	// "lcwAuth.getAuthenticationToken" (validated by config as dotted JS
	// identifiers).
	ClientFunction string
	// OnUnauthenticated is "empty" (callback("") on 401) or "login" (send
	// the user to Paths.Login?rd=<current path>, once).
	OnUnauthenticated string
	// PublicOrigin ("https://shop.example") is the only Origin accepted by
	// the client-events endpoint.
	PublicOrigin string
	// Metrics, when set, counts reported widget errors.
	Metrics *metrics.Metrics
}

// Bootstrap is the rendered script and its handlers.
type Bootstrap struct {
	opt     Options
	script  []byte
	version string
	etag    string
}

// scriptConfig is everything the script needs, embedded as JSON.
type scriptConfig struct {
	Fn                []string `json:"fn"`
	TokenURL          string   `json:"tokenURL"`
	LoginURL          string   `json:"loginURL"`
	EventsURL         string   `json:"eventsURL"`
	OnUnauthenticated string   `json:"onUnauthenticated"`
	TimeoutMs         int64    `json:"timeoutMs"`
	SessionHeader     string   `json:"sessionHeader"`
	MaxSkewSeconds    int64    `json:"maxSkewSeconds"`
}

// New renders the script for o.
func New(o Options) *Bootstrap {
	cfg := scriptConfig{
		Fn:                strings.Split(o.ClientFunction, "."),
		TokenURL:          o.Paths.Token,
		LoginURL:          o.Paths.Login,
		EventsURL:         o.Paths.ClientEvents,
		OnUnauthenticated: o.OnUnauthenticated,
		TimeoutMs:         tokenTimeout.Milliseconds(),
		SessionHeader:     o.SessionHeader,
		MaxSkewSeconds:    int64(clockSkewTolerance / time.Second),
	}
	// json.Marshal escapes <, > and & (and U+2028/9), so no configured value
	// can close the script or start markup; a []string and strings cannot fail.
	js, _ := json.Marshal(cfg)
	var buf bytes.Buffer
	tmpl := template.Must(template.New("bootstrap.js").Parse(scriptSource))
	if err := tmpl.Execute(&buf, struct{ Config string }{string(js)}); err != nil {
		panic("render bootstrap.js: " + err.Error()) // a fixed template with a string field cannot fail
	}
	sum := sha256.Sum256(buf.Bytes())
	v := base64.RawURLEncoding.EncodeToString(sum[:12])
	return &Bootstrap{opt: o, script: buf.Bytes(), version: v, etag: `"` + v + `"`}
}

// Version is the script's content hash: the injector's ?v= and the ETag.
func (b *Bootstrap) Version() string { return b.version }

// ScriptHandler serves GET {prefix}/bootstrap.js with a strong ETag. A
// request naming the current version (?v=) may be cached for a year; others
// for five minutes, so a page cached with an old tag soon sees a new script.
// Mount it for GET: the router answers other methods 405.
func (b *Bootstrap) ScriptHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Etag", b.etag)
		if r.URL.Query().Get("v") == b.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=300")
		}
		// ServeContent answers If-None-Match with 304, HEAD and ranges.
		http.ServeContent(w, r, "bootstrap.js", time.Time{}, bytes.NewReader(b.script))
	})
}
