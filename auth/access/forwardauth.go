package access

import (
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/redirect"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// ForwardAuthOptions configure the forward-auth endpoint.
type ForwardAuthOptions struct {
	// Path is the endpoint's own path ({prefix}/auth): Envoy's ext_authz
	// appends the original path to it.
	Path string
	// TrustedProxies may name the original request (X-Original-URL,
	// X-Forwarded-Uri/-Host/-Proto); nobody else can.
	TrustedProxies []netip.Prefix
	// IdentityHeaders sets the identity headers on the answer; nil when
	// headers.pass is off.
	IdentityHeaders func(http.Header, *session.Session)
	Logger          *slog.Logger
}

// ForwardAuth answers an ingress's auth subrequest (nginx auth_request,
// ingress-nginx auth-url, Traefik ForwardAuth, Envoy ext_authz over HTTP)
// from the verdict Identify made for the cookies the ingress passed on:
//
//	200  an authorized user (with the identity headers), or a request the
//	     access rules let through anonymously (optional mode, public path)
//	401  sign-in needed; the body links to the sign-in (Traefik shows it to
//	     the browser, which follows it for page loads)
//	403  a signed-in user the authorization rules refuse
//	503  the session store cannot answer
//
// The original request's path (for public_paths and the sign-in's rd) comes
// from the ingress's headers only when it is a trusted proxy; rd then goes
// through the same validation as the normal login.
func (p *Policy) ForwardAuth(o ForwardAuthOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		orig := originalURL(r, o)
		v := VisitorFrom(r.Context())
		if v != nil && v.Unavailable != nil {
			h.Set("Retry-After", "5")
			errorpage.Write(w, errorpage.FormatFor(r), http.StatusServiceUnavailable, "Your session cannot be checked right now. Please try again in a moment.")
			return
		}
		if s, ok := v.User(); ok {
			if o.IdentityHeaders != nil {
				o.IdentityHeaders(h, s)
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		if v != nil && v.Session != nil && p.required {
			o.Logger.InfoContext(r.Context(), "signed-in user not authorized", slog.String("sub", v.Session.Subject), slog.String("reason", v.Refused.Error()))
			errorpage.Status(w, errorpage.FormatFor(r), http.StatusForbidden)
			return
		}
		if !p.required || p.Public(&http.Request{URL: orig}) {
			w.WriteHeader(http.StatusOK)
			return
		}
		login := p.loginPath + "?rd=" + url.QueryEscape(redirect.Path(orig.RequestURI()))
		h.Set("WWW-Authenticate", `Bearer realm="lcw-auth-proxy"`)
		h.Set("X-Auth-Request-Redirect", login)
		if !request.IsPageLoad(r) || request.WantsJSON(r, "text/html") {
			errorpage.Status(w, errorpage.JSON, http.StatusUnauthorized)
			return
		}
		// Traefik and Envoy hand this answer to the browser: send it on.
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'")
		w.WriteHeader(http.StatusUnauthorized)
		esc := html.EscapeString(login)
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s"><title>Sign in</title></head><body><p><a href="%s">Sign in to continue</a></p></body></html>`+"\n", esc, esc)
	})
}

// originalURL is the request the ingress is asking about. Only a trusted
// proxy may name it; anything else is asked about "/", which is never
// public unless configured so and always a safe rd.
func originalURL(r *http.Request, o ForwardAuthOptions) *url.URL {
	root := &url.URL{Path: "/"}
	if !request.FromPeerIn(r, o.TrustedProxies) {
		return root
	}
	// Envoy ext_authz appends the original path to the endpoint's.
	if rest, ok := strings.CutPrefix(r.URL.Path, o.Path); ok && strings.HasPrefix(rest, "/") {
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		if raw, ok := strings.CutPrefix(r.URL.EscapedPath(), o.Path); ok {
			u.RawPath = raw
		}
		return &u
	}
	for _, v := range []string{r.Header.Get("X-Original-URL"), r.Header.Get("X-Forwarded-Uri")} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Path == "" && u.RawQuery == "") {
			continue
		}
		if u.Path == "" {
			u.Path = "/"
		}
		// Only the path and query matter: the host is the ingress's own.
		return &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	}
	return root
}
