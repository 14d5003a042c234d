package login

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
)

// oversizeCookieBytes is where a session's cookies start to endanger the
// request header: nginx's large_client_header_buffers and many load
// balancers refuse a header line over 8 KB, and the page's own cookies
// share it.
const oversizeCookieBytes = 4096

// warnAtSignIn tells operators, at sign-in, what will break later: session
// cookies past oversizeCookieBytes (set is the callback's response header),
// logged with the fix and counted; it does not stop the sign-in. (An Entra
// ID groups overage is reported by warnGroupsOverage, while the claims that
// show it are still at hand.)
func (rp *RP) warnAtSignIn(ctx context.Context, set http.Header, sess *session.Session) {
	n := sessionCookieBytes(set, rp.opt.Session.Name)
	rp.metrics.SessionCookieBytes.Observe(float64(n))
	if n > oversizeCookieBytes {
		rp.metrics.SignInWarnings.WithLabelValues("oversize").Inc()
		rp.log.WarnContext(ctx, "session cookies are large: requests may be refused by a proxy or load balancer with an 8 KB header limit; use session.store: redis (a cookie under 200 bytes) or ask the IdP for fewer claims",
			slog.Int("cookie_bytes", n), slog.String("sub", sess.Subject))
	}
}

// warnGroupsOverage logs and counts an Entra ID groups overage at sign-in,
// with the fix; it does not stop the sign-in.
func (rp *RP) warnGroupsOverage(ctx context.Context, sub string) {
	rp.metrics.SignInWarnings.WithLabelValues("groups_overage").Inc()
	rp.log.WarnContext(ctx, "the ID token has no groups claim: the user is in too many groups (Entra ID groups overage, _claim_names.groups / hasgroups); group rules see none. Fix: use app roles, or set the app registration's groups claim to \"Groups assigned to the application\"",
		slog.String("sub", sub))
}

// sessionCookieBytes sums name=value of the Set-Cookie headers in h that
// set the session cookie or its chunks (names starting with name).
func sessionCookieBytes(h http.Header, name string) int {
	n := 0
	for _, line := range h.Values("Set-Cookie") {
		pair, _, _ := strings.Cut(line, ";")
		k, v, _ := strings.Cut(pair, "=")
		if strings.HasPrefix(k, name) && !strings.HasPrefix(k, name+"_flow_") && v != "" {
			n += len(pair)
		}
	}
	return n
}

// groupsOverage reports Entra ID's sign that it left out groups: the
// distributed-claims pointer _claim_names.groups, or hasgroups: true
// (implicit flow).
func groupsOverage(claims map[string]any) bool {
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		if _, ok := names["groups"]; ok {
			return true
		}
	}
	has, _ := claims["hasgroups"].(bool)
	return has
}
