package login

import (
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// LogoutHandler clears every cookie of the proxy and, when the provider
// advertises end_session_endpoint, continues with RP-initiated logout there.
// Only the site's own pages log out at once (a link or form of the public
// origin, or a client without Fetch metadata); any other site gets a page
// asking the user to confirm, so a cross-site link or image cannot end
// sessions.
func (rp *RP) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !request.SameOrigin(r, rp.opt.PublicOrigin) {
			rp.confirmLogout(w)
			return
		}
		var idToken string
		if sess, err := rp.store.Load(r); err == nil {
			idToken = sess.IDToken
		}
		if err := rp.store.Clear(w, r); err != nil {
			// The record lives on: a copy of the cookie would still work,
			// so the browser keeps its cookie to try again.
			rp.log.ErrorContext(r.Context(), "logout: the session could not be ended", slog.String("error", err.Error()))
			rp.metrics.Logins.WithLabelValues("logout_failed").Inc()
			errorpage.Write(w, errorpage.FormatFor(r), http.StatusServiceUnavailable, "Signing out is not possible right now. Please try again in a moment.")
			return
		}
		for _, c := range r.Cookies() {
			if strings.HasPrefix(c.Name, rp.flowCookiePrefix()) {
				http.SetCookie(w, rp.flowCookie(c.Name, "", -1))
			}
		}
		rp.metrics.Logins.WithLabelValues("logout").Inc()
		w.Header().Set("Cache-Control", "no-store")
		after := rp.opt.OIDC.PostLogoutRedirectPath
		target := after
		if p, err := rp.disc.get(); err == nil && p.endSession != "" {
			if u, err := url.Parse(p.endSession); err == nil {
				q := u.Query()
				q.Set("client_id", rp.opt.OIDC.ClientID)
				q.Set("post_logout_redirect_uri", rp.opt.PublicOrigin+after)
				if idToken != "" {
					q.Set("id_token_hint", idToken)
				}
				u.RawQuery = q.Encode()
				target = u.String()
			}
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
}

// confirmLogout answers a logout that did not come from the site itself
// with a button that POSTs from the site's own origin. The page cannot be
// framed, so the button cannot be clickjacked.
func (rp *RP) confirmLogout(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>Sign out?</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;color:#222}button{font-size:1em;padding:.5em 1.2em}</style></head>
<body><h1>Sign out?</h1><p>Another site asked to sign you out of this one.</p>
<form method="post" action="%s/logout"><button type="submit">Sign out</button></form>
<p><a href="/">Stay signed in</a></p></body></html>
`, html.EscapeString(rp.opt.Prefix))
}
