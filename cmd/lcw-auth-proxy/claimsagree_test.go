package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// lwicontextsOf decodes the lwicontexts claim of a chat token (unverified:
// both sides sign with the same key file, and only the mapping is compared).
func lwicontextsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	mc := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(strings.TrimSpace(tok), mc); err != nil {
		t.Fatalf("decode token %q: %v", tok, err)
	}
	s, _ := mc["lwicontexts"].(string)
	var out map[string]any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("lwicontexts %q: %v", s, err)
	}
	return out
}

// serve and `token --claims`, side by side: for the claims each IdP really
// sends, the token serve mints after a real sign-in and the token the
// offline tool mints from the same ID token claims carry the same
// lwicontexts — one function (claims.Trusted) decides which email counts,
// so the offline tool never shows a value serve would drop.
func TestServeAndTokenClaimsAgree(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		edit            func(c map[string]any)
		allowUnverified bool
		email           string // customer_email both must carry ("" none)
	}{
		{"entra with xms_edov", func(c map[string]any) { delete(c, "email_verified"); c["xms_edov"], c["tid"] = true, "t" }, false, "vip@example.com"},
		{"entra without xms_edov", func(c map[string]any) { delete(c, "email_verified"); c["tid"] = "t" }, false, ""},
		{"entra with xms_edov false", func(c map[string]any) { delete(c, "email_verified"); c["xms_edov"] = false }, false, ""},
		{"b2c emails array", func(c map[string]any) {
			c["emails"] = []any{c["email"], "other@example.com"}
			delete(c, "email")
			delete(c, "email_verified")
		}, true, "vip@example.com"},
		{"b2c emails array, unverified not allowed", func(c map[string]any) {
			c["emails"] = []any{c["email"]}
			delete(c, "email")
			delete(c, "email_verified")
		}, false, ""},
		{"cognito email_verified as a string", func(c map[string]any) { c["email_verified"] = "true" }, false, "vip@example.com"},
		{"cognito email_verified \"false\"", func(c map[string]any) { c["email_verified"] = "false" }, false, ""},
		{"adfs without email_verified", func(c map[string]any) { delete(c, "email_verified"); c["upn"] = "vip@corp.example" }, false, ""},
		{"adfs, the IdP vouches for every address", func(c map[string]any) { delete(c, "email_verified") }, true, "vip@example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var issued map[string]any
			addr, public, op, upstream, secret := signInSite(t, testenv.OPOptions{EditIDToken: func(c map[string]any) {
				tc.edit(c)
				mu.Lock()
				issued = maps.Clone(c)
				mu.Unlock()
			}})
			path := baseConfig(t, upstream, fmt.Sprintf(`listen: %s
public_url: %s
oidc:
  issuer: %s
  client_id: %s
  client_secret: %s
  scopes: [openid, profile, email, offline_access]
  allow_unverified_email: %t
session:
  secret: %s
token:
  issuer: shop.example.com
  signing_keys:
    - file: %s
%s`, addr, public, op.Issuer, op.ClientID, op.ClientSecret, tc.allowUnverified, secret,
				testenv.SigningKeyFile(t), testenv.LWIContexts))
			p := startProxy(t, path, nil)

			c := testenv.NewBrowserClient(t)
			probe := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) { // discovery runs after start
				resp := testenv.Do(t, probe, "GET", p.URL+"/_lcw/login?rd=/", nil)
				resp.Body.Close()
				if resp.StatusCode == http.StatusFound {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("sign-in never started: %d", resp.StatusCode)
				}
			}
			if resp := testenv.Login(t, c, p.URL+"/_lcw/login?rd=/", testenv.VIPUsername, testenv.VIPPassword); resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in ended with %d", resp.StatusCode)
			}
			resp := testenv.Do(t, c, "GET", p.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin", "Accept": "application/jwt"})
			served, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("serve's token: %d %s %v", resp.StatusCode, served, err)
			}

			mu.Lock()
			claimsFile, _ := json.Marshal(issued)
			mu.Unlock()
			out, stderr, err := runCmd(t, nil, "token", "--config", path, "--claims", writeTemp(t, "claims.json", string(claimsFile)))
			if err != nil {
				t.Fatalf("token --claims: %v\n%s", err, stderr)
			}
			fromServe, offline := lwicontextsOf(t, string(served)), lwicontextsOf(t, strings.SplitN(out, "\n", 2)[0])
			if !maps.Equal(fromServe, offline) {
				t.Errorf("lwicontexts differ for the ID token %s:\nserve:  %v\noffline: %v", claimsFile, fromServe, offline)
			}
			if got, _ := fromServe["customer_email"].(string); got != tc.email {
				t.Errorf("customer_email = %q, want %q (ID token %s)", got, tc.email, claimsFile)
			}
		})
	}
}
