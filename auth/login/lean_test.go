package login

import (
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
)

// TestSessionKeepsOnlyWhatTheConfigReads signs in through the real OP,
// whose ID token carries groups, contact_id, cart_value, name, locale…:
// the session keeps the claims the configuration reads and names them.
func TestSessionKeepsOnlyWhatTheConfigReads(t *testing.T) {
	s := startSite(t, siteOptions{token: `, lwicontexts: {customer_email: {claim: email}, cart: {claim: cart_value, type: number}}`})
	sess := s.login(t)
	var keys []string
	for k := range sess.Claims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"cart_value", "email", "iss", "sub"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("session claims = %q, want %q", keys, want)
	}
	if want := claims.Needed(s.cfg).Names(); !reflect.DeepEqual(sess.Needs, want) {
		t.Errorf("session names %q, want %q", sess.Needs, want)
	}
}

// TestConfigChangeSignsInAgain: a configuration that reads a claim the
// session did not keep ends it (the user signs in again, and then has the
// claim), never answers without the claim; one that reads fewer keeps it.
func TestConfigChangeSignsInAgain(t *testing.T) {
	s := startSite(t, siteOptions{token: `, lwicontexts: {customer_email: {claim: email}}`})
	first := s.login(t)
	page := func() string { return s.home(t) }
	if got := page(); got != first.Subject {
		t.Fatalf("signed-in page says %q", got)
	}

	fewer := *s.cfg
	fewer.Token.LWIContexts = nil
	s.rp.opt.Claims = claims.Needed(&fewer)
	if page() == "" {
		t.Fatal("a configuration that reads fewer claims signed the user out")
	}

	more := *s.cfg
	more.Access.RequiredGroups = []string{"vip"}
	s.rp.opt.Claims = claims.Needed(&more)
	if got := page(); got != "" {
		t.Fatalf("a session without the groups claim the configuration now reads was accepted (%q)", got)
	}
	if s.browserSession(t) != nil {
		t.Fatal("the outdated session cookie was not cleared")
	}
	if n := s.count("claims_changed"); n != 1 {
		t.Errorf("claims_changed = %v, want 1", n)
	}
	sess := s.login(t)
	if _, ok := sess.Claims["groups"]; !ok {
		t.Fatalf("signed in again without groups: %v", sess.Claims)
	}
	if page() != sess.Subject {
		t.Fatal("the new session is not accepted")
	}
}

// The operator's fields (the verified email and the name, for `sessions
// list` and `--email`) are kept in a server-side record whatever the
// configuration reads, survive a refresh, and never ride in a cookie.
func TestOperatorFieldsOnlyInServerRecords(t *testing.T) {
	const lean = `, lwicontexts: {cart: {claim: cart_value, type: number}}`
	r := startSite(t, siteOptions{token: lean, redis: true})
	sess := r.login(t)
	if sess.Email != "vip@example.com" || sess.Name != "Vera Important" {
		t.Errorf("Redis record: email %q, name %q; want the VIP's", sess.Email, sess.Name)
	}
	if _, ok := sess.Claims["email"]; ok {
		t.Errorf("the claims kept the email the configuration does not read: %v", sess.Claims)
	}
	due := *sess
	due.RefreshAt, due.ID = time.Now().Add(-time.Second), "" // a record of its own, with a ticket
	got, err := r.rp.Session(httptest.NewRecorder(), r.request(r.cookieOf(t, &due)))
	if err != nil || got == nil || got.RefreshedAt.IsZero() {
		t.Fatalf("refresh: %+v %v", got, err)
	}
	if got.Email != sess.Email || got.Name != sess.Name {
		t.Errorf("after a refresh: email %q, name %q; want %q, %q", got.Email, got.Name, sess.Email, sess.Name)
	}

	c := startSite(t, siteOptions{token: lean})
	if sess := c.login(t); sess.Email != "" || sess.Name != "" {
		t.Errorf("the cookie carries email %q and name %q", sess.Email, sess.Name)
	}
}
