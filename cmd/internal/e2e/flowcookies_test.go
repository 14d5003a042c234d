package e2e

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// A login request stuffed with junk flow cookies gets an answer that
// clears only a handful of them: without the bound, 1,200 junk cookies
// made 1,201 Set-Cookie headers, an answer 3.4 times the request. A
// normal login in the same browser still works.
func TestJunkFlowCookiesDoNotAmplify(t *testing.T) {
	e := startEnv(t, envOptions{})
	const junk = 1200
	var cookies []string
	for i := range junk {
		cookies = append(cookies, fmt.Sprintf("_lcw_flow_junk%05d=x", i))
	}
	req, err := http.NewRequest("GET", e.URL+"/_lcw/login?rd=/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", strings.Join(cookies, "; "))
	reqDump, err := httputil.DumpRequestOut(req, false)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirect(&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	respDump, err := httputil.DumpResponse(resp, true)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login with junk flow cookies: %d, want 302 to the IdP", resp.StatusCode)
	}
	// The new flow's cookie plus at most a handful of clearings.
	if n := len(resp.Header.Values("Set-Cookie")); n > 1+4 {
		t.Errorf("%d Set-Cookie headers for %d junk flow cookies, want at most 5", n, junk)
	}
	if len(respDump) >= len(reqDump) {
		t.Errorf("answer of %d bytes to a request of %d bytes: the proxy amplifies", len(respDump), len(reqDump))
	}

	// A browser that carries a few junk flow cookies still signs in.
	c := testenv.NewBrowserClient(t)
	c.Jar.SetCookies(req.URL, []*http.Cookie{{Name: "_lcw_flow_junk1", Value: "x", Path: "/_lcw"}, {Name: "_lcw_flow_junk2", Value: "y", Path: "/_lcw"}})
	done := testenv.Login(t, c, e.URL+"/_lcw/login?rd=/after", testenv.VIPUsername, testenv.VIPPassword)
	if got := body(t, done); done.Request.URL.Path != "/after" || !strings.Contains(got, "upstream saw GET /after") {
		t.Fatalf("login with junk flow cookies ended at %s: %s", done.Request.URL, got)
	}
}
