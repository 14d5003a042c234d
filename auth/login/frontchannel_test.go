package login

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// frontchannelPath is the site's front-channel logout endpoint, which the
// test OP announces (FrontchannelLogoutURI) unless a test says otherwise.
const frontchannelPath = "/_lcw/frontchannel-logout"

// frontchannelSite is a site whose OP announces front-channel logout.
func frontchannelSite(t *testing.T, o siteOptions) *site {
	t.Helper()
	if o.op.FrontchannelLogoutURI == "" {
		o.op.FrontchannelLogoutURI = frontchannelPath
	}
	return startSite(t, o)
}

// frontchannel sends a front-channel logout request with rawQuery and the
// browser's cookie, with extra headers, and returns the answer.
func (s *site) frontchannel(t *testing.T, method, rawQuery, cookie string, headers map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, s.url+frontchannelPath+"?"+rawQuery, nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.rp.FrontchannelLogoutHandler().ServeHTTP(w, r)
	return w.Result()
}

func (s *site) frontchannelCount(result string) float64 {
	return testutil.ToFloat64(s.metrics.FrontchannelLogouts.WithLabelValues(result))
}

// alive reports whether cookie still opens a session.
func (s *site) alive(t *testing.T, cookie string) bool {
	t.Helper()
	sess, err := s.rp.store.Load(s.request(cookie))
	return err == nil && sess != nil
}

// clears reports whether the answer deletes the session cookie.
func clears(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

func query(kv ...string) string {
	q := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return q.Encode()
}

// With the cookie store, a request ends the session whose cookie the
// browser sends, and only when it names that session's sid (and issuer);
// every other request leaves it alone and is counted as what it was. The
// answer is a page only the IdP's origin may frame, never cached.
func TestFrontchannelLogoutCookieStore(t *testing.T) {
	s := frontchannelSite(t, siteOptions{})
	sess := s.login(t)
	if sess.SID == "" {
		t.Fatal("the OP's ID token has no sid")
	}
	cookie := s.cookieOf(t, sess)
	name := s.cfg.Session.Name
	other := *sess
	other.SID = "another-sign-in"
	otherCookie := s.cookieOf(t, &other)
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Referer": "https://evil.example/"}

	refused := []struct {
		name, query, result string
		headers             map[string]string
	}{
		{"no sid", query("iss", s.op.Issuer), "bad_request", nil},
		{"empty sid", query("sid", "", "iss", s.op.Issuer), "bad_request", nil},
		{"two sids", query("sid", sess.SID, "sid", sess.SID), "bad_request", nil},
		{"two sids, one wrong", query("sid", "x", "sid", sess.SID), "bad_request", nil},
		{"two issuers", query("sid", sess.SID, "iss", s.op.Issuer, "iss", s.op.Issuer), "bad_request", nil},
		{"sid too long", query("sid", strings.Repeat("a", maxSID+1)), "bad_request", nil},
		{"sid with a control character", query("sid", sess.SID+"\n"), "bad_request", nil},
		{"sid not ASCII", query("sid", "ß"+sess.SID), "bad_request", nil},
		{"huge query", query("sid", sess.SID, "x", strings.Repeat("y", maxFrontchannelQuery)), "bad_request", nil},
		{"garbage query", "sid=%zz&iss=%", "bad_request", nil},
		{"wrong issuer", query("sid", sess.SID, "iss", "https://evil.example"), "wrong_issuer", nil},
		{"issuer with a trailing slash", query("sid", sess.SID, "iss", s.op.Issuer+"/"), "wrong_issuer", nil},
		{"empty issuer", query("sid", sess.SID, "iss", ""), "wrong_issuer", nil},
		{"top-level GET from another site without sid", "", "bad_request", crossSite},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := s.frontchannelCount(tt.result)
			resp := s.frontchannel(t, http.MethodGet, tt.query, cookie, tt.headers)
			if resp.StatusCode != http.StatusBadRequest || clears(resp, name) || !s.alive(t, cookie) {
				t.Errorf("status %d, cookie cleared %v, session alive %v; want 400 and the session alive", resp.StatusCode, clears(resp, name), s.alive(t, cookie))
			}
			if got := s.frontchannelCount(tt.result) - before; got != 1 {
				t.Errorf("%s counted %v times, want 1", tt.result, got)
			}
		})
	}

	leftAlone := []struct {
		name, query, cookie, result string
		headers                     map[string]string
	}{
		{"sid of another session", query("sid", "another-sign-in", "iss", s.op.Issuer), cookie, "other_session", nil},
		{"a session of another sid", query("sid", sess.SID), otherCookie, "other_session", nil},
		{"top-level GET from another site with a guessed sid", query("sid", "00000000-0000-0000-0000-000000000000"), cookie, "other_session", crossSite},
		{"no cookie (third-party cookies blocked)", query("sid", sess.SID, "iss", s.op.Issuer), "", "no_session", nil},
		{"a cookie that opens nothing", query("sid", sess.SID), name + "=forged", "no_session", nil},
	}
	for _, tt := range leftAlone {
		t.Run(tt.name, func(t *testing.T) {
			before := s.frontchannelCount(tt.result)
			resp := s.frontchannel(t, http.MethodGet, tt.query, tt.cookie, tt.headers)
			if resp.StatusCode != http.StatusOK || clears(resp, name) || !s.alive(t, cookie) || !s.alive(t, otherCookie) {
				t.Errorf("status %d, cookie cleared %v; want 200 and every session alive", resp.StatusCode, clears(resp, name))
			}
			if got := s.frontchannelCount(tt.result) - before; got != 1 {
				t.Errorf("%s counted %v times, want 1", tt.result, got)
			}
		})
	}

	for _, m := range []string{http.MethodPost, http.MethodHead, http.MethodDelete} {
		resp := s.frontchannel(t, m, query("sid", sess.SID), cookie, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodGet || clears(resp, name) {
			t.Errorf("%s: %d, Allow %q, cleared %v; want 405, Allow: GET and nothing ended", m, resp.StatusCode, resp.Header.Get("Allow"), clears(resp, name))
		}
	}

	for _, tt := range []struct{ name, query string }{
		{"sid alone, as Entra ID sends it", query("sid", sess.SID)},
		{"iss and sid, as the spec has it", query("iss", s.op.Issuer, "sid", sess.SID)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := s.frontchannelCount("ended")
			resp := s.frontchannel(t, http.MethodGet, tt.query, cookie, nil)
			if resp.StatusCode != http.StatusOK || !clears(resp, name) {
				t.Fatalf("status %d, cookie cleared %v; want 200 and the cookie cleared", resp.StatusCode, clears(resp, name))
			}
			if got := s.frontchannelCount("ended") - before; got != 1 {
				t.Errorf("ended counted %v times, want 1", got)
			}
			h := resp.Header
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors "+s.op.Issuer) || strings.Count(csp, "frame-ancestors") != 1 {
				t.Errorf("Content-Security-Policy %q, want frame-ancestors %s", csp, s.op.Issuer)
			}
			if h.Get("Cache-Control") != "no-store" || h.Get("X-Frame-Options") != "" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Location") != "" {
				t.Errorf("headers %v: want no-store, an HTML page, no X-Frame-Options, no redirect", h)
			}
		})
	}
}

// With the Redis store the sid alone ends every session of that IdP
// session, without any cookie (the IdP's frame is third-party), and no
// session of another sid.
func TestFrontchannelLogoutRedisStore(t *testing.T) {
	s := frontchannelSite(t, siteOptions{redis: true})
	sess := s.login(t)
	// Two records of the same IdP session (as two devices of ours would
	// have after a silent sign-in each) and one of another.
	one, two := *sess, *sess
	one.ID, two.ID = "", ""
	first, secondCookie := s.cookieOf(t, &one), s.cookieOf(t, &two)
	other := *sess
	other.ID, other.SID = "", "another-sign-in"
	otherCookie := s.cookieOf(t, &other)

	resp := s.frontchannel(t, http.MethodGet, query("sid", "00000000-0000-0000-0000-000000000000", "iss", s.op.Issuer), "", nil)
	if resp.StatusCode != http.StatusOK || s.frontchannelCount("no_session") != 1 || !s.alive(t, first) {
		t.Fatalf("an unknown sid: %d, no_session %v, session alive %v", resp.StatusCode, s.frontchannelCount("no_session"), s.alive(t, first))
	}
	resp = s.frontchannel(t, http.MethodGet, query("sid", sess.SID, "iss", "https://evil.example"), "", nil)
	if resp.StatusCode != http.StatusBadRequest || s.frontchannelCount("wrong_issuer") != 1 || !s.alive(t, first) {
		t.Fatalf("a wrong issuer: %d, wrong_issuer %v, session alive %v", resp.StatusCode, s.frontchannelCount("wrong_issuer"), s.alive(t, first))
	}
	resp = s.frontchannel(t, http.MethodGet, query("iss", s.op.Issuer, "sid", sess.SID), "", nil)
	if resp.StatusCode != http.StatusOK || s.frontchannelCount("ended") != 1 {
		t.Fatalf("status %d, ended %v", resp.StatusCode, s.frontchannelCount("ended"))
	}
	if s.alive(t, first) || s.alive(t, secondCookie) || !s.alive(t, otherCookie) {
		t.Errorf("after the logout: sessions of the sid alive %v %v, of another sid %v; want false false true",
			s.alive(t, first), s.alive(t, secondCookie), s.alive(t, otherCookie))
	}
	if _, err := s.rp.Session(httptest.NewRecorder(), s.request(first)); err != nil {
		t.Errorf("a request with the ended session's cookie: %v, want an anonymous visitor", err)
	}
}

// enabled unset: the endpoint answers only for an IdP whose discovery
// announces front-channel logout (404 and not_supported otherwise);
// enabled: true serves it anyway.
func TestFrontchannelLogoutFollowsDiscovery(t *testing.T) {
	s := startSite(t, siteOptions{}) // the OP announces nothing
	sess := s.login(t)
	cookie := s.cookieOf(t, sess)
	resp := s.frontchannel(t, http.MethodGet, query("sid", sess.SID), cookie, nil)
	if resp.StatusCode != http.StatusNotFound || clears(resp, s.cfg.Session.Name) || s.frontchannelCount("not_supported") != 1 {
		t.Errorf("not announced: %d, cleared %v, not_supported %v; want 404, nothing ended", resp.StatusCode, clears(resp, s.cfg.Session.Name), s.frontchannelCount("not_supported"))
	}

	s = startSite(t, siteOptions{session: ", frontchannel_logout: {enabled: true}"})
	sess = s.login(t)
	resp = s.frontchannel(t, http.MethodGet, query("sid", sess.SID), s.cookieOf(t, sess), nil)
	if resp.StatusCode != http.StatusOK || !clears(resp, s.cfg.Session.Name) {
		t.Errorf("enabled: true: %d, cleared %v; want 200 and the session ended", resp.StatusCode, clears(resp, s.cfg.Session.Name))
	}
}

// A {tenantid} issuer: iss must be the issuer of an allowed tenant, by the
// rule ID and logout tokens are checked by, and, with the cookie store,
// the issuer of the session the cookie holds.
func TestFrontchannelLogoutTenantIssuer(t *testing.T) {
	s := entraSite(t, ", allowed_tenants: ["+tenantA+", "+tenantB+"]", nil)
	sess := s.signIn(t, testenv.VIPUsername, testenv.VIPPassword) // tenant A
	if sess == nil || sess.SID == "" {
		t.Fatalf("no session with a sid: %+v", sess)
	}
	cookie := s.cookieOf(t, sess)
	for _, tt := range []struct {
		name, iss, result string
		status            int
	}{
		{"a tenant not allowed", s.op.TenantIssuer(tenantC), "wrong_issuer", http.StatusBadRequest},
		{"the template itself", s.op.IssuerTemplate(), "wrong_issuer", http.StatusBadRequest},
		{"the provider's plain issuer", s.op.Issuer, "wrong_issuer", http.StatusBadRequest},
		{"no tenant id", s.op.TenantIssuer("common"), "wrong_issuer", http.StatusBadRequest},
		{"another host", strings.Replace(s.op.TenantIssuer(tenantA), "127.0.0.1", "localhost", 1), "wrong_issuer", http.StatusBadRequest},
		{"another allowed tenant than the session's", s.op.TenantIssuer(tenantB), "other_session", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := s.frontchannelCount(tt.result)
			resp := s.frontchannel(t, http.MethodGet, query("iss", tt.iss, "sid", sess.SID), cookie, nil)
			if resp.StatusCode != tt.status || clears(resp, s.cfg.Session.Name) || s.frontchannelCount(tt.result)-before != 1 {
				t.Errorf("status %d, cleared %v, %s counted %v; want %d and the session alive", resp.StatusCode, clears(resp, s.cfg.Session.Name), tt.result, s.frontchannelCount(tt.result)-before, tt.status)
			}
		})
	}
	// The issuer rule takes tenant ids in any case, as for tokens; the
	// session's own issuer is compared as the IdP wrote it.
	resp := s.frontchannel(t, http.MethodGet, query("iss", s.op.TenantIssuer(strings.ToUpper(tenantA)), "sid", sess.SID), cookie, nil)
	if resp.StatusCode != http.StatusOK || clears(resp, s.cfg.Session.Name) {
		t.Errorf("tenant A's issuer in upper case: %d, cleared %v; want 200 and the session alive", resp.StatusCode, clears(resp, s.cfg.Session.Name))
	}
	resp = s.frontchannel(t, http.MethodGet, query("iss", s.op.TenantIssuer(tenantA), "sid", sess.SID), cookie, nil)
	if resp.StatusCode != http.StatusOK || !clears(resp, s.cfg.Session.Name) {
		t.Errorf("tenant A's issuer: %d, cleared %v; want the session ended", resp.StatusCode, clears(resp, s.cfg.Session.Name))
	}
}

var _ FrontchannelStore = (*session.RedisStore)(nil)
