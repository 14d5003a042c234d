// Package access decides who may reach the upstream: the access mode, public
// paths, authorization rules, and how an anonymous visitor is answered.
package access

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/errorpage"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/request"
)

// Policy is the access configuration compiled for request-time checks.
type Policy struct {
	required    bool
	publicPaths []string
	domains     []string
	groups      []string
	groupsClaim string
	claims      map[string][]string
	loginPath   string
	logoutPath  string
	silent      *Silent
}

// Silent configures silent sign-in (access.silent_sign_in).
type Silent struct {
	// Path starts a prompt=none round trip ({prefix}/silent); Cookie marks
	// a browser session in which it was tried; SkipParam in a page's query
	// says it cannot be tried (cookies do not stick).
	Path, Cookie, SkipParam string
	Secure                  bool
}

// WithSilentSignIn turns silent sign-in on (optional mode only).
func (p *Policy) WithSilentSignIn(s Silent) *Policy {
	if !p.required {
		p.silent = &s
	}
	return p
}

// NewPolicy builds the policy of a provisioned access section; anonymous
// visitors are sent to paths.Login.
func NewPolicy(a config.Access, paths config.Paths) *Policy {
	return &Policy{
		required:    a.Mode == "required",
		publicPaths: a.PublicPaths,
		domains:     a.EmailDomains, // provisioned: lower case, no "@"
		groups:      a.RequiredGroups,
		groupsClaim: a.GroupsClaim,
		claims:      a.RequiredClaims,
		loginPath:   paths.Login,
		logoutPath:  paths.Logout,
	}
}

// Public reports whether the request's path is configured as public. Paths
// that a server could resolve differently from us (dot segments, encoded
// slashes or backslashes, ';' path parameters, a '#' that some servers
// take as the end of the path, escapes a second decoding
// pass or a lenient UTF-8 decoder would turn into those) never count as
// public, so "/public/..;/admin" or "/public/%252e%252e/admin" cannot borrow
// a public prefix.
func (p *Policy) Public(r *http.Request) bool {
	if len(p.publicPaths) == 0 {
		return false
	}
	raw := r.URL.EscapedPath()
	if strings.ContainsAny(raw, ";\\#") || hasAmbiguousEscape(raw) {
		return false
	}
	clean := path.Clean(r.URL.Path)
	if clean != r.URL.Path && clean+"/" != r.URL.Path {
		return false
	}
	for _, pp := range p.publicPaths {
		if strings.HasSuffix(pp, "/") {
			if strings.HasPrefix(r.URL.Path, pp) || r.URL.Path+"/" == pp {
				return true
			}
		} else if r.URL.Path == pp {
			return true
		}
	}
	return false
}

// hasAmbiguousEscape reports whether an escaped path holds a %XX that some
// server on the way could read differently from the path we match:
//   - '.', '/', '\': dot segments and separators invisible in our decoded path;
//   - ';', '?', '#': path parameters or a cut path after one more decoding;
//   - '%': an upstream that decodes twice turns %252e into '.';
//   - any byte >= 0x80: overlong UTF-8 (%c0%ae) is '.' to lenient decoders,
//     and best-fit or NFKC folding maps valid characters (U+FF0E) to '.' or
//     '/'; telling safe non-ASCII from these is not worth the risk, so such
//     paths need a login;
//   - control bytes: C upstreams stop at %00.
//
// A malformed escape counts as ambiguous too.
func hasAmbiguousEscape(raw string) bool {
	for i := strings.IndexByte(raw, '%'); i >= 0; i = strings.IndexByte(raw, '%') {
		if i+2 >= len(raw) {
			return true
		}
		hi, ok1 := unhex(raw[i+1])
		lo, ok2 := unhex(raw[i+2])
		if !ok1 || !ok2 {
			return true
		}
		switch b := hi<<4 | lo; {
		case b < 0x20 || b >= 0x7f:
			return true
		case strings.IndexByte("./\\;?#%", b) >= 0:
			return true
		}
		raw = raw[i+3:]
	}
	return false
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// authorize checks the optional rules against a signed-in user's claims. The
// error says which rule failed (for the log, not the user).
func (p *Policy) authorize(s *session.Session) error {
	if len(p.domains) > 0 {
		email, _ := s.Claims["email"].(string)
		_, domain, ok := strings.Cut(strings.ToLower(email), "@")
		if !ok || !slices.Contains(p.domains, domain) {
			return fmt.Errorf("email domain of %q is not allowed", email)
		}
		if _, present := s.Claims["email_verified"]; present && !s.EmailVerified() {
			return fmt.Errorf("email %q is not verified", email)
		}
	}
	if len(p.groups) > 0 {
		have := stringsOf(s.Claims[p.groupsClaim])
		ok := false
		for _, g := range p.groups {
			ok = ok || slices.Contains(have, g)
		}
		if !ok {
			return fmt.Errorf("user is in none of the required groups %v", p.groups)
		}
	}
	for claim, allowed := range p.claims {
		have := stringsOf(s.Claims[claim])
		ok := false
		for _, a := range allowed {
			ok = ok || slices.Contains(have, a)
		}
		if !ok {
			return fmt.Errorf("claim %s has none of the required values %v", claim, allowed)
		}
	}
	return nil
}

// stringsOf reads a claim that may be a string or a list of strings.
func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return t
	case bool, float64:
		return []string{fmt.Sprint(t)}
	}
	return nil
}

// Visitor is the access verdict on one request, decided once after the
// session is loaded: who the visitor is and whether the rules let them in.
// Everything downstream (access control, identity headers, injection, the
// chat token) reads it; nothing decides it again.
type Visitor struct {
	// Session is the visitor's session; nil for an anonymous visitor.
	Session *session.Session
	// Refused says which authorization rule a signed-in visitor fails; nil
	// when they pass (or are anonymous).
	Refused error
	// Unavailable is set when the session store could not answer: the
	// visitor may well be signed in, so they are neither let in nor sent
	// to sign in (which would loop through the IdP); they get a 503.
	Unavailable error
}

// User returns the session of a signed-in visitor the rules let in. A
// refused visitor is no user: in optional mode they continue anonymously,
// with no identity headers and no chat token.
func (v *Visitor) User() (*session.Session, bool) {
	if v == nil || v.Session == nil || v.Refused != nil {
		return nil, false
	}
	return v.Session, true
}

type visitorKey struct{}

// visitorContext carries the verdict: one allocation for the context and
// the Visitor together (context.WithValue would need a second), on a path
// every request takes.
type visitorContext struct {
	context.Context
	v Visitor
}

func (c *visitorContext) Value(key any) any {
	if key == (visitorKey{}) {
		return &c.v
	}
	return c.Context.Value(key)
}

// VisitorFrom returns the verdict Identify put in ctx; nil (anonymous) when
// the request did not pass through Identify.
func VisitorFrom(ctx context.Context) *Visitor {
	v, _ := ctx.Value(visitorKey{}).(*Visitor)
	return v
}

// Authorized reports whether r's visitor is a signed-in user the rules let in.
func Authorized(r *http.Request) bool {
	_, ok := VisitorFrom(r.Context()).User()
	return ok
}

// Identify loads the visitor's session with load (nil: anonymous; an error:
// the store is unavailable) and puts the verdict in the request context for
// everything downstream.
func (p *Policy) Identify(load func(http.ResponseWriter, *http.Request) (*session.Session, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sess, err := load(w, r)
			c := &visitorContext{Context: r.Context(), v: Visitor{Session: sess, Unavailable: err}}
			if c.v.Session != nil {
				c.v.Refused = p.authorize(c.v.Session)
			}
			next.ServeHTTP(w, r.WithContext(c))
		})
	}
}

// answer is what the access rules make of one request: the one decision
// that Protect (the full proxy) and ForwardAuth (an ingress's subrequest)
// both render, so the two can never disagree.
type answer uint8

const (
	// pass: the request may reach the site, as the user when
	// Visitor.User says so, else anonymously.
	pass answer = iota
	// trySilent: pass, but an anonymous visitor may first go once through
	// silent sign-in (where the answer goes to a browser).
	trySilent
	// signIn: a visitor without a session on a protected path.
	signIn
	// forbidden: a signed-in visitor the authorization rules refuse, on a
	// protected path (never a new login, which would loop).
	forbidden
	// unavailable: the session store could not answer for a protected
	// path (never "signed out", which would loop through the IdP).
	unavailable
)

// decide turns a verdict and the kind of path into the answer. A public
// path is open to anyone, whatever the store or the rules say of the
// visitor (they pass as anonymous unless they are an authorized user).
func (p *Policy) decide(v *Visitor, public bool) answer {
	if _, ok := v.User(); ok {
		return pass
	}
	switch {
	case public || !p.required && (v == nil || v.Unavailable == nil):
		if p.silent != nil && (v == nil || v.Session == nil && v.Unavailable == nil) {
			return trySilent
		}
		return pass
	case v != nil && v.Unavailable != nil:
		return unavailable
	case v != nil && v.Session != nil:
		return forbidden
	}
	return signIn
}

// Protect lets a request reach next when the path is public, the access
// mode is optional, or the visitor is an authorized user. A signed-in
// visitor the rules refuse gets a 403 page, never a new login (which would
// loop); in optional mode they continue as anonymous.
func (p *Policy) Protect(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := VisitorFrom(r.Context())
		switch p.decide(v, p.Public(r)) {
		case trySilent:
			var tried bool
			if r, tried = p.silentTried(r); !tried && request.IsTopLevelNavigation(r) && r.Method == http.MethodGet {
				p.trySilent(w, r)
				return
			}
			next.ServeHTTP(w, r)
		case pass:
			next.ServeHTTP(w, r)
		case unavailable:
			writeUnavailable(w, r)
		case forbidden:
			logRefused(r.Context(), log, v)
			p.writeRefused(w, r, v)
		default:
			p.deny(w, r)
		}
	})
}

// writeRefused is the 403 for a signed-in visitor the rules refuse. The
// rule is the site's configuration, not a secret, and naming it (with who
// is signed in, and a way to sign out and pick another account) is what
// turns a dead end into a next step.
func (p *Policy) writeRefused(w http.ResponseWriter, r *http.Request, v *Visitor) {
	errorpage.Refused(w, errorpage.FormatFor(r), errorpage.Refusal{
		Who:     displayName(v.Session),
		Rule:    v.Refused.Error(),
		SignOut: p.logoutPath,
	})
}

// displayName is how the 403 page names the signed-in user: the email,
// the username or the name they would recognise, else the subject.
func displayName(s *session.Session) string {
	for _, c := range []string{"email", "preferred_username", "name"} {
		if v, _ := s.Claims[c].(string); v != "" {
			return v
		}
	}
	return s.Subject
}

func writeUnavailable(w http.ResponseWriter, r *http.Request) {
	errorpage.Unavailable(w, r, 5*time.Second, "Your session cannot be checked right now. Please try again in a moment.")
}

func logRefused(ctx context.Context, log *slog.Logger, v *Visitor) {
	log.InfoContext(ctx, "signed-in user not authorized", slog.String("sub", v.Session.Subject), slog.String("reason", v.Refused.Error()))
}

// silentTried reports whether this browser session already had its silent
// sign-in (the marker cookie), or cannot have one (the skip parameter, which
// is then removed from the request before the upstream sees it).
func (p *Policy) silentTried(r *http.Request) (*http.Request, bool) {
	if _, err := r.Cookie(p.silent.Cookie); err == nil {
		return r, true
	}
	raw := r.URL.RawQuery
	if !strings.Contains(raw, p.silent.SkipParam) {
		return r, false
	}
	kept := make([]string, 0, 4)
	for part := range strings.SplitSeq(raw, "&") {
		if part != p.silent.SkipParam {
			kept = append(kept, part)
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = strings.Join(kept, "&")
	r2.RequestURI = r2.URL.RequestURI()
	return r2, true
}

// trySilent marks the browser session and sends it once through the IdP
// with prompt=none, back to this very URL.
func (p *Policy) trySilent(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: p.silent.Cookie, Value: "1", Path: "/", Secure: p.silent.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.silent.Path+"?rd="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
}

// deny answers a visitor without a session on a protected path: a page load
// that can be replayed goes to the login and back; scripts and API clients
// get a 401 in JSON they can act on.
func (p *Policy) deny(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if request.IsPageLoad(r) && request.Replayable(r) {
		http.Redirect(w, r, p.loginPath+"?rd="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="lcw-auth-proxy"`)
	errorpage.Status(w, errorpage.JSON, http.StatusUnauthorized)
}
