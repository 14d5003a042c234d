package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// Entra ID with many groups: the ID token carries _claim_names.groups
// (and no groups), and with the cookie store a big token makes the
// session cookies pass 4 KB. Both sign-ins work, and both are logged with
// the fix and counted. The session keeps only the claims the configuration
// reads: the same big claim, unread, leaves the cookie small.
func TestSignInWarnings(t *testing.T) {
	users := devidp.DefaultUsers()
	users[0].Claims["_claim_names"] = map[string]any{"groups": "src1"}
	users[0].Claims["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}
	delete(users[0].Claims, "groups")
	// Group object ids, as Entra sends them: random, so compression does
	// not shrink them much.
	roles := make([]string, 200)
	for i := range roles {
		roles[i] = uuid.NewString()
	}
	users[1].Claims["roles"] = roles
	users[2].Claims = map[string]any{"unread": users[1].Claims["roles"]}
	// The identity headers read the groups claim, here roles.
	e := startEnv(t, envOptions{OP: testenv.OPOptions{Users: users},
		Extra: "access:\n  mode: required\n  groups_claim: roles\nheaders:\n  pass: true\n"})
	m := e.App.Metrics()

	_, resp := e.login(t, users[0].Username, users[0].Password, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overage sign-in: %d", resp.StatusCode)
	}
	if got := testutil.ToFloat64(m.SignInWarnings.WithLabelValues("groups_overage")); got != 1 {
		t.Errorf("groups_overage count %v, want 1", got)
	}
	if !strings.Contains(e.Logs.String(), "Groups assigned to the application") {
		t.Errorf("no log line naming the groups fix:\n%s", e.Logs)
	}
	if got := testutil.ToFloat64(m.SignInWarnings.WithLabelValues("oversize")); got != 0 {
		t.Errorf("oversize after a small session: %v", got)
	}

	_, resp = e.login(t, users[1].Username, users[1].Password, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("big sign-in: %d", resp.StatusCode)
	}
	if got := testutil.ToFloat64(m.SignInWarnings.WithLabelValues("oversize")); got != 1 {
		t.Errorf("oversize count %v, want 1", got)
	}
	if !strings.Contains(e.Logs.String(), "session.store: redis") {
		t.Errorf("no log line recommending the Redis store:\n%s", e.Logs)
	}
	_, resp = e.login(t, users[2].Username, users[2].Password, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in with a big unread claim: %d", resp.StatusCode)
	}
	if got := testutil.ToFloat64(m.SignInWarnings.WithLabelValues("oversize")); got != 1 {
		t.Errorf("oversize count %v after a big claim nothing reads, want still 1", got)
	}
	if n := testutil.CollectAndCount(m.SessionCookieBytes); n != 1 {
		t.Errorf("lcw_session_cookie_bytes series %d", n)
	}
}
