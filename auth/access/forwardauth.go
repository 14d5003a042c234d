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
// from the verdict Identify made for the cookies the ingress passed on, with
// the same decision Protect renders for the full proxy:
//
//	200  an authorized user (with the identity headers), or a request the
//	     access rules let through anonymously (optional mode, public path)
//	401  sign-in needed; the body links to the sign-in (Traefik shows it to
//	     the browser, which follows it for page loads)
//	403  a signed-in user the authorization rules refuse
//	503  the session store cannot answer
//
// The original request's path (for public_paths and the sign-in's rd) comes
// from the ingress only when it is a trusted proxy; rd then goes through the
// same validation as the normal login.
func (p *Policy) ForwardAuth(o ForwardAuthOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		orig, known := originalURL(r, o)
		v := VisitorFrom(r.Context())
		switch p.decide(v, known && p.Public(&http.Request{URL: orig})) {
		case pass, trySilent: // silent sign-in needs the browser, which an ingress keeps
			if s, ok := v.User(); ok && o.IdentityHeaders != nil {
				o.IdentityHeaders(h, s)
			}
			w.WriteHeader(http.StatusOK)
		case unavailable:
			writeUnavailable(w, r)
		case forbidden:
			logRefused(r.Context(), o.Logger, v)
			errorpage.Status(w, errorpage.FormatFor(r), http.StatusForbidden)
		default:
			p.askSignIn(w, r, orig)
		}
	})
}

// askSignIn answers 401 with the way to the sign-in and back to orig.
func (p *Policy) askSignIn(w http.ResponseWriter, r *http.Request, orig *url.URL) {
	h := w.Header()
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
}

// originalURL is the path and query of the request the ingress asks about.
// known is false when nobody trustworthy named it: the caller is no trusted
// proxy, a trusted one sent none of the headers, or the one it sent does not
// parse or is repeated. Such a request is protected, whatever its path
// looked like, and its rd is "/".
//
// The headers are consulted in a fixed order, and the first one a trusted
// proxy sent is the only one read: an ingress that names the request one
// way (nginx and ingress-nginx set X-Original-URL) may pass the other
// headers on from the client unchanged, so falling back to them would let a
// client choose the path that is checked.
func originalURL(r *http.Request, o ForwardAuthOptions) (u *url.URL, known bool) {
	root := &url.URL{Path: "/"}
	if !request.FromPeerIn(r, o.TrustedProxies) {
		return root, false
	}
	// Envoy ext_authz appends the original path to the endpoint's.
	if rest, ok := strings.CutPrefix(r.URL.Path, o.Path); ok && strings.HasPrefix(rest, "/") {
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		if raw, ok := strings.CutPrefix(r.URL.EscapedPath(), o.Path); ok {
			u.RawPath = raw
		}
		return &u, true
	}
	for _, name := range [...]string{"X-Original-Url", "X-Forwarded-Uri"} {
		vs := r.Header[name]
		if len(vs) == 0 {
			continue
		}
		if len(vs) > 1 {
			return root, false
		}
		if u, ok := requestPath(vs[0]); ok {
			return u, true
		}
		return root, false
	}
	return root, false
}

// requestPath reads the path and query of an original URL, either a full
// URL (X-Original-URL: nginx builds it from the client's Host, which need
// not parse: "shop.example.com:b", "%zz", "[::1") or a request path
// (Traefik's X-Forwarded-Uri). Only the path and query matter, since the
// host is the ingress's own, so the authority is skipped unread up to the
// first '/'. An authority cut short by '?' or '#' (a Host of "a?") hides the
// real path: not ok.
func requestPath(v string) (*url.URL, bool) {
	if !strings.HasPrefix(v, "/") {
		i := strings.Index(v, "://")
		if i <= 0 || strings.ContainsAny(v[:i], "/?#") {
			return nil, false
		}
		rest := v[i+3:]
		j := strings.IndexAny(rest, "/?#")
		if j < 0 || rest[j] != '/' {
			return nil, false
		}
		v = rest[j:]
	}
	u, err := url.ParseRequestURI(v)
	if err != nil || u.Path == "" || u.Scheme != "" || u.Host != "" {
		return nil, false
	}
	return &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}, true
}
